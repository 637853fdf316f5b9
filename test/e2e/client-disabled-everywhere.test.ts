import { expect } from 'chai';
import { DB_KINDS } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

/**
 * Issue 20 and DESIGN ("no cache may let a revoked token, session or client work later"): a client
 * an operator disables through one instance is refused by every other instance sharing the
 * database at once, not after a cache has run out.
 */
for (const kind of DB_KINDS) {
  describe(`a disabled client on another instance (${kind})`, function () {
    this.timeout(60_000);
    let first: TestServer;
    let second: TestServer;

    before(async () => {
      first = await startTestServer(kind);
      second = await startTestServer(kind, {}, { database: first.database });
    });
    after(async () => {
      await second?.close();
      await first?.close();
    });

    const tokenFrom = (server: TestServer, clientId: string, secret: string) => fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });

    it('is refused by the other instance right after it was disabled, and works again right after it was enabled', async () => {
      const added = await first.sesame.clients.add({ name: 'Nightly job', grantTypes: ['client_credentials'] });
      const { clientId } = added.client;
      const secret = added.clientSecret!;
      // the other instance has just read the client (and would still hold it, were it cached)
      expect((await tokenFrom(second, clientId, secret)).status).to.equal(200);
      expect((await tokenFrom(second, clientId, secret)).status).to.equal(200);

      await first.sesame.clients.setEnabled(clientId, false);
      const refused = await tokenFrom(second, clientId, secret);
      expect(refused.status).to.equal(401);
      expect(await refused.json()).to.include({ error: 'invalid_client' });

      await first.sesame.clients.setEnabled(clientId, true);
      expect((await tokenFrom(second, clientId, secret)).status).to.equal(200);
    });
  });
}
