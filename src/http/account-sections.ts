import type { Context } from 'koa';
import type { AccountConnections } from '../accounts/connections.js';
import { formatTime } from '../mail/login-mail.js';
import { deviceName } from '../shared/user-agent.js';
import type { HttpDeps } from './context.js';
import type { SignedIn } from './account-session.js';
import { t } from './pages.js';

/**
 * One part of the account page: its own partial (`views/partials/account/<id>.hbs`, rendered in a
 * `<section id="<id>">`) and the data it needs, loaded per request. The page is the list of
 * sections (`accountSections`); a new one (passkeys…) is a partial, a loader and its POST routes.
 */
export interface AccountSection {
  readonly id: string;
  load(ctx: Context, who: SignedIn, state: SectionState): Promise<Record<string, unknown>>;
}

/** What a POST handler tells the page it renders next: a notice, or an error, for one section. */
export interface SectionState {
  readonly section?: string;
  readonly notice?: string;
  readonly error?: string;
  /** what the person typed, shown again with an error */
  readonly value?: string;
}

type Deps = Pick<HttpDeps, 'findClient' | 'templates' | 'passkeys'> & { connections: AccountConnections };

const forSection = (id: string, state: SectionState) => (state.section === id ? { notice: state.notice, error: state.error, value: state.value } : {});

export function addressSection(): AccountSection {
  return {
    id: 'address',
    load: async (_ctx, { account, csrf }, state) => ({
      email: account.email,
      action: '/account/email',
      csrf,
      ...forSection('address', state),
    }),
  };
}

export function appsSection({ connections, findClient, templates }: Deps): AccountSection {
  return {
    id: 'apps',
    load: async (ctx, { account, csrf }, state) => {
      const apps = await connections.apps(account.id);
      const locale = ctx.state.locale as string;
      return {
        apps: await Promise.all(apps.map(async (app) => {
          const client = await findClient(app.clientId);
          return {
            clientId: app.clientId,
            name: client?.name ?? app.clientId,
            logoUri: client?.logoUri,
            scopes: app.scopes.map((scope) => (templates.messages.has(`consent.scope.${scope}`) ? t(ctx, templates, `consent.scope.${scope}`) : scope)),
            since: formatTime(app.since, locale),
          };
        })),
        action: '/account/apps/disconnect',
        csrf,
        ...forSection('apps', state),
      };
    },
  };
}

export function sessionsSection({ connections, findClient, templates }: Deps): AccountSection {
  return {
    id: 'sessions',
    load: async (ctx, { account, session: current, csrf }, state) => {
      // this browser first: it is the one people look for
      const sessions = (await connections.sessions(account.id)).sort((a, b) => Number(b.uid === current.uid) - Number(a.uid === current.uid));
      const locale = ctx.state.locale as string;
      return {
        sessions: await Promise.all(sessions.map(async (session) => ({
          uid: session.uid,
          current: session.uid === current.uid,
          signedInAt: formatTime(session.signedInAt, locale),
          device: deviceName(session.userAgent, (key, params) => t(ctx, templates, key, params)),
          ip: session.ip,
          apps: (await Promise.all(session.clientIds.map(async (id) => (await findClient(id))?.name ?? id))).join(', '),
        }))),
        action: '/account/sessions/sign-out',
        everywhereAction: '/account/sessions/sign-out-everywhere',
        csrf,
        ...forSection('sessions', state),
      };
    },
  };
}

/** The account's passkeys at a glance; adding, renaming and removing them is on /account/passkeys. */
export function passkeysSection({ passkeys }: Pick<HttpDeps, 'passkeys'>): AccountSection {
  return {
    id: 'passkeys',
    load: async (ctx, { account }) => {
      const date = new Intl.DateTimeFormat(ctx.state.locale ?? 'en', { dateStyle: 'medium' });
      return {
        passkeys: (await passkeys.list(account.id)).map((passkey) => ({
          name: passkey.name,
          createdAt: date.format(passkey.createdAt),
          lastUsedAt: passkey.lastUsedAt === null ? undefined : date.format(passkey.lastUsedAt),
        })),
        manage: '/account/passkeys',
      };
    },
  };
}

export function deletionSection(): AccountSection {
  return {
    id: 'delete',
    load: async (_ctx, { account, csrf }, state) => ({ email: account.email, action: '/account/delete', csrf, ...forSection('delete', state) }),
  };
}

/** The account page, top to bottom. */
export function accountSections(deps: Deps): AccountSection[] {
  return [addressSection(), appsSection(deps), sessionsSection(deps), ...(deps.passkeys.enabled ? [passkeysSection(deps)] : []), deletionSection()];
}
