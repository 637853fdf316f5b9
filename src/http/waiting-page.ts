import type { Context } from 'koa';
import type { LoginRequest } from '../login/login-request.js';
import type { LoginService, LoginStatus } from '../login/login-service.js';
import type { Templates } from '../shared/templates.js';
import type { ClientView } from './interaction-steps.js';
import { renderPage, t } from './pages.js';

/**
 * The states of the "check your email" page. `waiting` is the one with something to do here (the
 * code, the number for another device); every other one is an outcome that replaces the whole card:
 * rendered by the server when the page is loaded in that state, and by the page script (from the
 * same partials, sent along as <template>s) when polling finds the state changed.
 */
export const WAIT_STATES = ['waiting', 'completed', 'expired', 'superseded', 'locked', 'denied', 'mismatch', 'undeliverable', 'gone'] as const;
export type WaitState = (typeof WAIT_STATES)[number];

/** The outcomes the page script can switch to, and the partial of each (views/partials/wait-*.hbs). */
const OUTCOMES = WAIT_STATES.filter((state) => state !== 'waiting');

/**
 * The page state of a login request. `none` (nothing asked yet) and `approved` (finish now) are
 * not states of this page. The status JSON carries `status`, `reason` and `mail`; the page script
 * makes the same decision from them.
 */
export function waitStateOf(login: LoginService, request: LoginRequest | undefined, status: LoginStatus, mailFailed: boolean): WaitState | 'none' | 'approved' {
  switch (status) {
    case 'none': return 'none';
    case 'approved': return 'approved';
    case 'pending': return mailFailed ? 'undeliverable' : 'waiting';
    case 'denied': return login.stoppedBy(request!) === 'mismatch' ? 'mismatch' : 'denied';
    default: return status;
  }
}

export interface WaitingPage {
  uid: string;
  app: ClientView;
  request: LoginRequest | undefined;
  state: WaitState;
  csrf: string;
  /** seconds until another email may be asked for (0: now) */
  resendWait: number;
  /** a message about the code field (wrong code…) */
  codeError?: string;
  /** a message about asking for a new email (too many…) */
  resendError?: string;
  /** what just happened or what is missing: `sent` (a new email), `not_yet` ("continue" pressed too early) */
  notice?: 'sent' | 'not_yet';
}

export function renderWaitingPage(ctx: Context, templates: Templates, page: WaitingPage, poll: { firstMs: number; maxMs: number }): void {
  const { uid, app, request, state } = page;
  const base = `/interaction/${uid}`;
  renderPage(ctx, templates, 'login/check-email', {
    title: t(ctx, templates, state === 'waiting' ? 'check.title' : `check.${state}.title`, { app: app.clientName }),
    ...app,
    state,
    statePartial: `wait-${state}`,
    // the outcomes the page script may switch to, rendered now in the page's language
    outcomes: state === 'waiting' ? OUTCOMES.map((outcome) => ({ state: outcome, partial: `wait-${outcome}` })) : [],
    email: request?.email,
    matchNumber: request?.matchNumber,
    codeAction: `${base}/code`,
    resendAction: `${base}/resend`,
    resendWait: page.resendWait,
    resendWaitText: templates.messages.wait(ctx.state.locale, page.resendWait),
    statusUrl: `${base}/status`,
    pollFirstMs: poll.firstMs,
    pollMaxMs: poll.maxMs,
    continueUrl: `${base}?continue=1`,
    pollUrl: base,
    changeUrl: `${base}?change=1`,
    abortAction: `${base}/abort`,
    csrf: page.csrf,
    codeError: page.codeError,
    resendError: page.resendError,
    notice: page.notice,
  });
}
