import { expect } from 'chai';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { rotateSigningKey } from '../../src/oidc/signing-keys.js';
import { Browser } from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { createTestDatabase } from '../support/databases.js';
import { eventually } from '../support/eventually.js';
import { discover, exchangeCode, registerClient, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { SmtpSink } from '../support/smtp-sink.js';
import { startTestServer, TEST_SECRETS, cliEnv } from '../support/test-server.js';

describe('signing key rotation across two instances (postgres)', function () {
  this.timeout(60_000);

  it('a key rotated through one instance is published and then used by the other; old ID tokens still verify', async () => {
    const database = await createTestDatabase('postgres', { migrated: true });
    // one SMTP server for both: either instance's mail worker may send a message queued through the other
    const sink = await new SmtpSink().start();
    const a = await startTestServer('postgres', { SMTP_URL: sink.url }, { database });
    // B re-reads the keys every 200 ms (KEYS_REFRESH_SECONDS in production): it finds the new key by itself
    const b = await startTestServer('postgres', { SMTP_URL: sink.url }, { database, keyRefreshMs: 200 });
    try {
      const registered = await registerClient(a.sesame, { isPublic: true, firstParty: true });
      const onB = await discover(b.issuer, registered);
      const signIn = async (email: string) => {
        const start = await startAuthorization(onB);
        const tokens = await exchangeCode(onB, start, await signInWithLink(new Browser(b.issuer), sink, start, email));
        return tokens.id_token!;
      };
      const before = await signIn('rotate1@example.com');
      const oldKid = decodeProtectedHeader(before).kid;

      // rotate through A's database handle, to sign after an hour: published first...
      const rotated = await rotateSigningKey(a.sesame.keys, 3600);
      await b.sesame.refreshKeys();
      const published = await (await fetch(`${b.issuer}/jwks`)).json() as { keys: { kid: string }[] };
      expect(published.keys.map((k) => k.kid)).to.include.members([oldKid, rotated.kid]);
      expect(decodeProtectedHeader(await signIn('rotate2@example.com')).kid, 'not signing yet').to.equal(oldKid);

      // ...then, once active (the hour moved back in the database), used by B, picked up by B's own refresh timer
      const providerBefore = b.sesame.provider;
      await a.sesame.db('signing_keys').where({ kid: rotated.kid }).update({ activate_at: Date.now() });
      await eventually('B rebuilt its provider with the new keys', () => b.sesame.provider !== providerBefore);
      const after = await signIn('rotate3@example.com');
      expect(decodeProtectedHeader(after).kid).to.equal(rotated.kid);

      const jwks = createRemoteJWKSet(new URL(`${b.issuer}/jwks`));
      await jwtVerify(before, jwks, { issuer: b.issuer, audience: registered.clientId });
      await jwtVerify(after, jwks, { issuer: b.issuer, audience: registered.clientId });

      // the CLI sees the same state
      const listed = await runCli(['keys', 'list', '--json'], { DATABASE_URL: database.url, DATA_DIR: database.dataDir, ...TEST_SECRETS });
      const rows = JSON.parse(listed.stdout) as { kid: string; state: string }[];
      expect(rows.map((r) => `${r.kid}:${r.state}`)).to.deep.equal([`${rotated.kid}:signing`, `${oldKid}:retiring`]);

      // once the tokens the old key signed have expired, it is withdrawn and deleted
      // (moved back in time: the old key signed until the new one activated 4000 s ago, past KEY_RETIREMENT_SECONDS)
      await a.sesame.db('signing_keys').where({ kid: oldKid }).update({ activate_at: Date.now() - 8000 * 1000 });
      await a.sesame.db('signing_keys').where({ kid: rotated.kid }).update({ activate_at: Date.now() - 4000 * 1000 });
      await b.sesame.refreshKeys();
      const remaining = await (await fetch(`${b.issuer}/jwks`)).json() as { keys: { kid: string }[] };
      expect(remaining.keys.map((k) => k.kid)).to.deep.equal([rotated.kid]);
      expect(await a.sesame.db('signing_keys').pluck('kid')).to.deep.equal([rotated.kid]);
    } finally {
      await a.close();
      await b.close();
      await sink.close();
      await database.drop();
    }
  });

  it('sesame keys rotate refuses a bad delay and records the rotation in the audit trail', async () => {
    const server = await startTestServer('sqlite');
    const env = cliEnv(server);
    try {
      const bad = await runCli(['keys', 'rotate', '--activate-after', 'soon'], env);
      expect(bad.code).to.equal(2);
      expect(bad.stderr).to.include('--activate-after');
      const ok = await runCli(['keys', 'rotate', '--activate-after', '60', '--json'], env);
      expect(ok.code, ok.stderr).to.equal(0);
      const { kid } = JSON.parse(ok.stdout) as { kid: string };
      const events = await server.sesame.audit.query({ type: 'admin.key.rotated' });
      expect(events.map((e) => e.details?.kid)).to.deep.equal([kid]);
      expect(events[0].actor).to.match(/^cli:\S+$/);
    } finally {
      await server.close();
    }
  });
});
