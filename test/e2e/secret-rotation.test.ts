import { expect } from 'chai';
import { Browser } from '../support/browser.js';
import { createTestDatabase, DB_KINDS, type TestDatabase } from '../support/databases.js';
import { client, discover, exchangeCode, expectOAuthError, REDIRECT_URI, registerClient, signInWithLink, startAuthorization, type RegisteredClient } from '../support/relying-party.js';
import { startTestServer, TEST_SECRETS, type TestServer } from '../support/test-server.js';

const OLD = TEST_SECRETS.HMAC_SECRETS;
const NEW = 'rotated-hmac-secret-for-ids-0123456789abcdefgh';

/**
 * Rotating HMAC_SECRETS as docs/production.md describes (add the new one second, put it first, drop the
 * old one) while tokens, sessions and secrets hashed under the old one are in use: everything keeps
 * working while both are listed, and what was used meanwhile moved to the new secret.
 */
for (const kind of DB_KINDS) {
  describe(`rotating HMAC_SECRETS with sessions and tokens in use (${kind})`, function () {
    this.timeout(60_000);
    let database: TestDatabase;
    let server: TestServer | undefined;

    before(async () => {
      database = await createTestDatabase(kind);
    });
    afterEach(async () => {
      await server?.close();
      server = undefined;
    });
    after(() => database?.drop());

    const start = async (secrets: string) => (server = await startTestServer(kind, { HMAC_SECRETS: secrets }, { database }));
    const restart = async (secrets: string) => {
      await server!.close();
      return start(secrets);
    };

    /** A new authorization in a browser that has a session: straight back to the app, no email asked. */
    async function silentSignIn(browser: Browser, registered: RegisteredClient): Promise<boolean> {
      const config = await discover(server!.issuer, registered);
      const start = await startAuthorization(config, { prompt: '' });
      const page = await browser.get(start.url.toString());
      return Boolean(page.location?.startsWith(REDIRECT_URI));
    }

    it('keeps tokens, the session, client secrets and admin tokens working while both are listed; what was used moves to the new one', async () => {
      await start(OLD);
      const registered = await registerClient(server!.sesame, { firstParty: true, isPublic: true });
      const confidential = await registerClient(server!.sesame, { name: 'Confidential' });
      const secretWorks = async () => {
        const record = await server!.sesame.clients.find(confidential.clientId);
        return server!.sesame.clients.verifySecret(record!, confidential.clientSecret!);
      };
      const admin = await server!.sesame.adminTokens.create({ name: 'rotation', scopes: ['read'] });
      let config = await discover(server!.issuer, registered);
      const browser = new Browser(server!.issuer);
      const authorization = await startAuthorization(config);
      const tokens = await exchangeCode(config, authorization, await signInWithLink(browser, server!.smtp, authorization, 'rotate@example.com'));

      // step 1 and 2 at once for this instance: the new secret first, the old one still listed
      await restart(`${NEW},${OLD}`);
      config = await discover(server!.issuer, registered);
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
      expect(refreshed.access_token).to.be.a('string');
      expect((await client.fetchUserInfo(config, refreshed.access_token, client.skipSubjectCheck)).email).to.equal('rotate@example.com');
      expect(await silentSignIn(browser, registered), 'the session of before').to.equal(true);
      expect(await server!.sesame.adminTokens.verify(admin.token)).to.not.equal(undefined);
      expect(await secretWorks(), 'a client secret hashed under the old secret').to.equal(true);

      // step 3: the old secret gone
      await restart(NEW);
      config = await discover(server!.issuer, registered);
      expect(await silentSignIn(browser, registered), 'the session, saved again under the new secret').to.equal(true);
      const again = await client.refreshTokenGrant(config, refreshed.refresh_token!);
      expect(again.access_token, 'the refresh token issued under the new secret').to.be.a('string');
      // as docs/production.md says: what was hashed only under the old secret is gone with it
      await expectOAuthError(client.refreshTokenGrant(config, tokens.refresh_token!), 'invalid_grant');
      expect(await server!.sesame.adminTokens.verify(admin.token), 'an admin token made under the old secret').to.equal(undefined);
      expect(await secretWorks(), 'a client secret not rotated meanwhile').to.equal(false);
    });
  });
}
