import { parseArgs } from 'node:util';
import { passkeyToJson } from '../admin/json.js';
import type { Core } from '../core.js';
import { cliActor } from './actor.js';
import { UsageError } from './usage-error.js';

/** `sesame passkeys …`: an account's passkeys, listed or removed (the emailed link always stays). */
export async function passkeysCommand(core: Core, argv: string[], out: (text: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  switch (sub) {
    case 'list': {
      if (positionals.length !== 1) throw new UsageError('passkeys list needs one ACCOUNT (its id or email address)');
      const { account, passkeys } = await core.passkeys.listFor(positionals[0]);
      if (values.json) {
        out(`${JSON.stringify({ account: account.id, email: account.email, passkeys: passkeys.map(passkeyToJson) }, null, 2)}\n`);
        return 0;
      }
      if (passkeys.length === 0) out(`no passkeys for ${account.email} (${account.id})\n`);
      for (const p of passkeys.map(passkeyToJson)) {
        out(`${p.id}  ${p.name}  ${p.device_type}  added ${p.created_at}  ${p.last_used_at ? `last used ${p.last_used_at}` : 'never used'}\n`);
      }
      return 0;
    }
    case 'remove': {
      if (positionals.length !== 2) throw new UsageError('passkeys remove needs an ACCOUNT (its id or email address) and the PASSKEY id');
      const { account, passkey } = await core.passkeys.removeFor(positionals[0], positionals[1]);
      await core.audit.record({ type: 'passkey.removed', accountId: account.id, email: account.email, actor: cliActor(), details: { passkey: passkey.id, via: 'cli' } });
      if (values.json) out(`${JSON.stringify(passkeyToJson(passkey), null, 2)}\n`);
      else out(`removed passkey ${passkey.id} (${passkey.name}) of ${account.email}; the emailed link still signs them in\n`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown passkeys command "${sub}"` : 'passkeys needs a command: list or remove');
  }
}
