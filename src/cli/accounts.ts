import { parseArgs } from 'node:util';
import type { Account } from '../accounts/account.js';
import { accountToJson as describe } from '../admin/json.js';
import type { Core } from '../core.js';
import { cliActor } from './actor.js';
import type { CommandIo } from './io.js';
import { UsageError } from './usage-error.js';

/** Asks on the terminal; without one (a script, a pipe) the answer is no. */
async function confirm(io: CommandIo, question: string): Promise<boolean> {
  if (!io.ask) return false;
  return /^y(es)?$/i.test((await io.ask(question)).trim());
}

/** `sesame accounts …`: find, create, disable, enable and delete the people who sign in, and change their address. */
export async function accountsCommand(core: Core, argv: string[], io: CommandIo): Promise<number> {
  const out = io.stdout;
  const [sub, ...rest] = argv;
  const json = { json: { type: 'boolean' as const, default: false } };
  const one = (what: string) => {
    const { values, positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: json });
    if (positionals.length !== 1) throw new UsageError(`accounts ${what} needs one ACCOUNT (its id or email address)`);
    return { target: positionals[0], json: values.json };
  };
  const print = (account: Account, asJson: boolean, extra: Record<string, unknown> = {}) => {
    const view = { ...describe(account), ...extra };
    if (asJson) out(`${JSON.stringify(view, null, 2)}\n`);
    else for (const [key, value] of Object.entries(view)) out(`${key}: ${Array.isArray(value) ? value.join(' ') : value}\n`);
  };
  switch (sub) {
    case 'list': {
      const { values } = parseArgs({
        args: rest,
        strict: true,
        options: { search: { type: 'string' }, after: { type: 'string' }, limit: { type: 'string', default: '50' }, ...json },
      });
      const limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError('--limit must be a whole number from 1 to 500');
      const page = await core.accounts.list({ search: values.search, after: values.after, limit });
      if (values.json) {
        out(`${JSON.stringify({ accounts: page.accounts.map(describe), next: page.next ?? null }, null, 2)}\n`);
      } else {
        if (page.accounts.length === 0) out('no accounts\n');
        for (const a of page.accounts) out(`${a.id}  ${a.email}  ${a.status}${a.lastLoginAt ? `  last sign-in ${new Date(a.lastLoginAt).toISOString()}` : ''}\n`);
        if (page.next) out(`# more: --after ${page.next}\n`);
      }
      return 0;
    }
    case 'show': {
      const { target, json: asJson } = one('show');
      const { account, activity } = await core.accounts.details(target);
      print(account, asJson, { sessions: activity.sessions, apps_with_access: activity.clients });
      return 0;
    }
    case 'create': {
      const { target, json: asJson } = one('create');
      // the same answer as the admin API: an address that has an account already is a conflict
      const account = await core.accounts.createNew(target);
      await core.audit.record({ type: 'admin.account.created', accountId: account.id, email: account.email, actor: cliActor() });
      print(account, asJson);
      return 0;
    }
    case 'disable':
    case 'enable':
    case 'delete': {
      const { values, positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: { ...json, yes: { type: 'boolean', default: false } } });
      if (positionals.length !== 1) throw new UsageError(`accounts ${sub} needs one ACCOUNT (its id or email address)`);
      if (sub !== 'delete' && values.yes) throw new UsageError('--yes is only for accounts delete');
      const [target] = positionals;
      const asJson = values.json;
      if (sub === 'delete' && !values.yes) {
        const account = await core.accounts.get(target);
        if (!(await confirm(io, `Delete ${account.email} (${account.id}), its sessions, grants and tokens? It cannot be undone. [y/N] `))) {
          throw new UsageError('accounts delete asks first: answer y, or add --yes to delete without being asked');
        }
      }
      const account = sub === 'disable' ? await core.accounts.disable(target) : sub === 'enable' ? await core.accounts.enable(target) : await core.accounts.remove(target);
      const type = sub === 'disable' ? 'admin.account.disabled' : sub === 'enable' ? 'admin.account.enabled' : 'admin.account.deleted';
      await core.audit.record({ type, accountId: account.id, email: account.email, actor: cliActor() });
      if (asJson) print(account, true);
      else out(`${sub}d ${account.email} (${account.id})${sub === 'enable' ? '' : ': its sessions, grants and tokens were revoked'}\n`);
      return 0;
    }
    case 'set-name': {
      const { values, positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: json });
      if (positionals.length !== 2) throw new UsageError('accounts set-name needs an ACCOUNT (its id or email address) and the NAME ("" removes it)');
      const account = await core.accounts.setName(positionals[0], positionals[1]);
      await core.audit.record({ type: 'admin.account.renamed', accountId: account.id, email: account.email, actor: cliActor() });
      print(account, values.json);
      return 0;
    }
    case 'change-email': {
      const { values, positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: { locale: { type: 'string' }, ...json } });
      if (positionals.length !== 2) throw new UsageError('accounts change-email needs an ACCOUNT (its id or email address) and the NEW_EMAIL');
      const language = core.templates.messages.chosen(values.locale);
      if ('problem' in language) throw new UsageError(`--locale ${language.problem}`);
      const change = await core.accounts.requestEmailChange(positionals[0], positionals[1], { via: 'cli', actor: cliActor(), locale: language.locale });
      const view = {
        id: change.accountId,
        email: change.oldEmail,
        new_email: change.newEmail,
        state: change.state,
        expires_at: new Date(change.expiresAt).toISOString(),
      };
      if (values.json) out(`${JSON.stringify(view, null, 2)}\n`);
      else out(`confirmation sent to ${change.newEmail}: ${change.oldEmail} (${change.accountId}) changes to it once the link in that email is confirmed, until ${view.expires_at}\n`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown accounts command "${sub}"` : 'accounts needs a command: list, show, create, set-name, disable, enable, delete or change-email');
  }
}
