import type { Context, Middleware } from 'koa';
import { errors as oidcErrors } from 'oidc-provider';
import { AppError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { isDatabaseUnavailable } from '../shared/database-errors.js';
import { logFailure } from './log-failure.js';
import type { Templates } from '../shared/templates.js';
import { renderPage, t } from './pages.js';

/**
 * The one place errors become responses: a page for people (in their language), JSON for callers
 * that ask for it. Client mistakes keep their 4xx and their message; anything else is a 500 whose
 * cause is logged with the request id and never shown.
 */
export function errorHandler(templates: Templates, logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const view = toView(error);
      if (view.status >= 500) logFailure(ctx.state.log ?? logger, error, ctx);
      ctx.status = view.status;
      ctx.state.failure ??= { error: view.code, description: view.english };
      if (view.retryAfter) ctx.set('Retry-After', String(view.retryAfter));
      ctx.set('Cache-Control', 'no-store');
      if (ctx.accepts('html', 'json') === 'json') {
        ctx.body = { error: view.code, error_description: view.english };
        return;
      }
      renderErrorPage(ctx, templates, view);
    }
  };
}

/**
 * The way on from an error, where a step before the error knew it (see verify-routes.ts and
 * interaction-steps.ts): a new link from the sign-in still open in this browser, or the news that
 * the sign-in already finished. The app (name, and where "back" leads) is in `ctx.state.app`.
 */
export interface ErrorNext {
  /** this browser's sign-in is still open: a form there sends a new email */
  resend?: { action: string; csrf: string };
  /** the sign-in this link or page belonged to has finished: nothing is wrong */
  signedIn?: boolean;
  /** the link was opened on another device than the one that asked: the new email is asked for there */
  otherDevice?: boolean;
}

function renderErrorPage(ctx: Context, templates: Templates, view: ErrorView): void {
  const app = ctx.state.app as { clientName?: string; logoUri?: string; appUrl?: string } | undefined;
  const next = (ctx.state.errorNext ?? {}) as ErrorNext;
  const heading = !next.signedIn ? t(ctx, templates, view.headingKey)
    : app?.clientName ? t(ctx, templates, 'error.signed_in.title', { app: app.clientName }) : t(ctx, templates, 'check.completed.title');
  renderPage(ctx, templates, 'error', {
    title: heading,
    heading,
    message: next.signedIn ? t(ctx, templates, 'error.signed_in') : localizedMessage(ctx, templates, view),
    code: next.signedIn ? undefined : view.code,
    resend: next.resend,
    otherDevice: next.otherDevice,
    restart: view.restart && !next.resend && !next.signedIn && !next.otherDevice,
    clientName: app?.clientName,
    logoUri: app?.logoUri,
    appUrl: app?.appUrl,
  });
}

/**
 * A page for a path nobody answered (GET or HEAD, from a browser): the same design, in the
 * person's language, instead of a bare "Not Found".
 */
export function notFoundPage(templates: Templates): Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.status !== 404 || ctx.body != null || (ctx.method !== 'GET' && ctx.method !== 'HEAD') || ctx.accepts('html', 'json') !== 'html') return;
    ctx.status = 404;
    renderPage(ctx, templates, 'error', {
      title: t(ctx, templates, 'error.page_not_found.title'),
      heading: t(ctx, templates, 'error.page_not_found.title'),
      message: t(ctx, templates, 'error.page_not_found'),
      code: 'not_found',
    });
  };
}

/** The person-facing text of an error: its locale key with parameters, or the English message. */
export function localizedMessage(ctx: Context, templates: Templates, view: { key: string; params: Record<string, unknown>; english: string; retryAfter?: number }): string {
  if (!templates.messages.has(view.key)) return view.english;
  const params = { ...view.params };
  if (view.retryAfter) params.wait = templates.messages.wait(ctx.state.locale, view.retryAfter);
  return t(ctx, templates, view.key, params);
}

function busyView(): ErrorView {
  return {
    status: 503,
    code: 'temporarily_unavailable',
    headingKey: 'error.server.title',
    key: 'error.temporarily_unavailable',
    params: {},
    english: 'Sesame is busy right now. Try again in a moment.',
    retryAfter: BUSY_RETRY_AFTER_SECONDS,
  };
}

/**
 * oidc-provider answers its own endpoints; when its adapter found the database locked or
 * unavailable it answered 500. Rewritten to 503 with Retry-After, the same as our own routes.
 */
export function databaseUnavailable(templates: Templates): Middleware {
  return async (ctx, next) => {
    await next();
    if (!ctx.state.databaseUnavailable || ctx.status < 500) return;
    const view = busyView();
    ctx.status = view.status;
    ctx.set('Retry-After', String(BUSY_RETRY_AFTER_SECONDS));
    if (ctx.accepts('html', 'json') === 'json' || ctx.path !== '/auth' && !ctx.path.startsWith('/session')) {
      ctx.body = { error: view.code, error_description: view.english };
    } else {
      renderPage(ctx, templates, 'error', { title: t(ctx, templates, view.headingKey), heading: t(ctx, templates, view.headingKey), message: t(ctx, templates, view.key) });
    }
  };
}

interface ErrorView {
  status: number;
  code: string;
  headingKey: string;
  key: string;
  params: Record<string, unknown>;
  english: string;
  restart?: boolean;
  retryAfter?: number;
}

export const BUSY_RETRY_AFTER_SECONDS = 2;

/** The errors of a real sign-in link that no longer works (as against an unknown one). */
export const DEAD_LINKS: ReadonlySet<string> = new Set(['link_expired', 'link_used', 'link_superseded', 'link_stopped', 'link_locked']);

export function toView(error: unknown): ErrorView {
  if (isDatabaseUnavailable(error)) return busyView();
  if (error instanceof AppError) {
    const server = error.status >= 500;
    return {
      status: error.status,
      code: server ? 'server_error' : error.code,
      headingKey: server ? 'error.server.title' : DEAD_LINKS.has(error.code) ? 'error.link.title' : 'error.title',
      key: server ? 'error.server_error' : error.key,
      params: { ...error.params },
      english: server ? 'Please try again in a moment.' : error.message,
      restart: error.status === 410 || error.code.startsWith('link_'),
      retryAfter: error.retryAfterSeconds,
    };
  }
  if (error instanceof oidcErrors.SessionNotFound) {
    return {
      status: 400,
      code: 'interaction_expired',
      headingKey: 'error.interaction_expired.title',
      key: 'error.interaction_expired',
      params: {},
      english: 'The sign-in you started is no longer open in this browser. Go back to the app and sign in again.',
    };
  }
  const e = error as { status?: number; statusCode?: number; type?: string };
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // body parser and koa errors: too large (413), malformed (400), unsupported type (415)
    const tooLarge = status === 413;
    return {
      status,
      code: tooLarge ? 'request_too_large' : 'bad_request',
      headingKey: 'error.title',
      key: tooLarge ? 'error.request_too_large' : 'error.bad_request',
      params: {},
      english: tooLarge ? 'The request was too large.' : 'The request could not be read.',
    };
  }
  return { status: 500, code: 'server_error', headingKey: 'error.server.title', key: 'error.server_error', params: {}, english: 'Please try again in a moment.' };
}
