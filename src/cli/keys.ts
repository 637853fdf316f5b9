import { parseArgs } from 'node:util';
import { signingKeyToJson } from '../admin/json.js';
import type { Core } from '../core.js';
import { keySet, rotateSigningKey } from '../oidc/signing-keys.js';
import { cliActor } from './actor.js';
import type { CommandIo } from './io.js';
import { UsageError } from './usage-error.js';

/** `sesame keys list|rotate`: the signing keys every instance publishes and signs with. */
export async function keysCommand(core: Core, argv: string[], io: CommandIo): Promise<number> {
  const out = io.stdout;
  const [sub, ...rest] = argv;
  const { config } = core;
  switch (sub) {
    case 'list': {
      const { values } = parseArgs({ args: rest, strict: true, options: { json: { type: 'boolean', default: false } } });
      const set = keySet(await core.keys.list(), Date.now(), config.keys.retirementSeconds * 1000);
      const rows = set.entries.map(signingKeyToJson);
      if (values.json) out(`${JSON.stringify(rows, null, 2)}\n`);
      else for (const row of rows) out(`${row.kid}  ${row.alg}  ${row.state.padEnd(8)}  signs from ${row.signs_from}${row.published_until ? `  published until ${row.published_until}` : ''}\n`);
      return 0;
    }
    case 'rotate': {
      const { values } = parseArgs({
        args: rest,
        strict: true,
        options: { 'activate-after': { type: 'string' }, json: { type: 'boolean', default: false } },
      });
      const delay = values['activate-after'] === undefined ? config.keys.activationDelaySeconds : Number(values['activate-after']);
      if (!Number.isInteger(delay) || delay < 0) throw new UsageError('--activate-after takes a whole number of seconds (0 or more)');
      // a key already waiting to sign: say so (the new one then waits behind it)
      const waiting = keySet(await core.keys.list(), Date.now(), config.keys.retirementSeconds * 1000).entries.filter((entry) => entry.state === 'next');
      for (const entry of waiting) io.stderr(`note: key ${entry.key.kid} is already published and waiting to sign from ${new Date(entry.key.activateAt).toISOString()}\n`);
      const key = await rotateSigningKey(core.keys, delay);
      await core.audit.record({ type: 'admin.key.rotated', actor: cliActor(), details: { kid: key.kid, activateAfterSeconds: delay } });
      const result = { kid: key.kid, alg: key.alg, signs_from: new Date(key.activateAt).toISOString() };
      if (values.json) out(`${JSON.stringify(result, null, 2)}\n`);
      else out(`new key ${key.kid} published now, signs from ${result.signs_from}; every instance picks it up within ${config.keys.refreshSeconds} s\n`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown keys command "${sub}"` : 'keys needs a command: list or rotate');
  }
}
