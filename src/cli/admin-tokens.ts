import { parseArgs } from 'node:util';
import { ADMIN_SCOPES } from '../admin/admin-tokens.js';
import { adminTokenToJson } from '../admin/json.js';
import { parseDurationMs } from '../admin/time.js';
import type { Core } from '../core.js';
import { UsageError } from './usage-error.js';
import { cliActor } from './actor.js';

/** `sesame admin-tokens …`: bearer tokens for the admin API (and Dynamic Client Registration). */
export async function adminTokensCommand(core: Core, argv: string[], out: (text: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'create': {
      const { values } = parseArgs({
        args: rest,
        strict: true,
        options: {
          name: { type: 'string' },
          scope: { type: 'string', multiple: true },
          'expires-in': { type: 'string' },
          json: { type: 'boolean', default: false },
        },
      });
      if (!values.name) throw new UsageError('admin-tokens create needs --name');
      if (!values.scope?.length) throw new UsageError(`admin-tokens create needs --scope (${ADMIN_SCOPES.join(', ')}; repeat for several)`);
      let expiresInSeconds: number | undefined;
      if (values['expires-in'] !== undefined) {
        const ms = parseDurationMs(values['expires-in']);
        if (!ms) throw new UsageError('--expires-in takes a duration like 90m, 12h or 30d');
        expiresInSeconds = ms / 1000;
      }
      const { token, info } = await core.adminTokens.create({ name: values.name, scopes: values.scope, expiresInSeconds });
      await core.audit.record({ type: 'admin.token.created', actor: cliActor(), details: { tokenId: info.id, tokenName: info.name, scopes: info.scopes.join(' ') } });
      if (values.json) {
        out(`${JSON.stringify({ ...adminTokenToJson(info), token }, null, 2)}\n`);
      } else {
        out(`id: ${info.id}\ntoken: ${token}\n# the token is shown only now; it is stored as a keyed hash\n`);
      }
      return 0;
    }
    case 'list': {
      const { values } = parseArgs({ args: rest, strict: true, options: { json: { type: 'boolean', default: false } } });
      const tokens = (await core.adminTokens.list()).map(adminTokenToJson);
      if (values.json) out(`${JSON.stringify(tokens, null, 2)}\n`);
      else if (tokens.length === 0) out('no admin tokens\n');
      else {
        for (const t of tokens) {
          const when = t.state === 'revoked' ? `  revoked ${t.revoked_at}` : t.expires_at ? `  expires ${t.expires_at}` : '';
          out(`${t.id}  ${t.name}  ${t.scopes.join(',')}  ${t.state}${when}  last used ${t.last_used_at ?? 'never'}\n`);
        }
      }
      return 0;
    }
    case 'revoke': {
      const { positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: {} });
      if (positionals.length !== 1) throw new UsageError('admin-tokens revoke needs one ID (see admin-tokens list)');
      const { info, revoked } = await core.adminTokens.revoke(positionals[0]);
      if (revoked) await core.audit.record({ type: 'admin.token.revoked', actor: cliActor(), details: { tokenId: info.id, tokenName: info.name } });
      out(revoked ? `revoked ${info.id} (${info.name}); it stops working at once\n` : `${info.id} (${info.name}) was already revoked\n`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown admin-tokens command "${sub}"` : 'admin-tokens needs a command: create, list or revoke');
  }
}
