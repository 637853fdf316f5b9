import { expect } from 'chai';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { Browser, type Page } from '../support/browser.js';
import { freePort } from '../support/cli.js';
import { createTestDatabase, DB_KINDS } from '../support/databases.js';
import { client, discover, exchangeCode, REDIRECT_URI, registerClient, startAuthorization } from '../support/relying-party.js';
import { RestartableServer } from '../support/restartable-server.js';
import { loginDetails, SmtpSink } from '../support/smtp-sink.js';

/** the other-device page asks for the number; the same-browser page does not */
const asksForNumber = (page: Page) => page.body.includes('name="number"');

for (const kind of DB_KINDS) {
  describe(`a restart mid-login loses nothing (${kind})`, function () {
    this.timeout(60_000);

    it('the pending link, the authorization code, the refresh token, the session and the signing key all survive restarts', async () => {
      const database = await createTestDatabase(kind, { migrated: true });
      const sink = await new SmtpSink().start();
      const server = new RestartableServer({ port: await freePort(), database, smtpUrl: sink.url });
      try {
        const registered = await registerClient(await server.start(), { isPublic: true, firstParty: true });
        const config = await discover(server.issuer, registered);
        const browser = new Browser(server.issuer);
        const email = `restart-${kind}@example.com`;
        const start = await startAuthorization(config);
        const checkEmail = await browser.submit(await browser.get(start.url.toString()), /\/email$/, { email });
        expect(checkEmail.body).to.include('Check your email');
        const { link } = loginDetails(await sink.waitFor(email));

        await server.restart();
        const verify = await browser.get(link);
        expect(verify.status).to.equal(200);
        expect(asksForNumber(verify), 'still recognised as the same browser').to.equal(false);
        const done = await browser.submit(verify, '/login/verify');
        expect(done.location, done.body).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));

        // the authorization code was issued by the previous instance
        await server.restart();
        const tokens = await exchangeCode(config, start, done.location!);
        const verifyOptions = { issuer: server.issuer, audience: registered.clientId };
        const first = await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), verifyOptions);
        expect(tokens.refresh_token).to.be.a('string');

        await server.restart();
        const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
        expect(refreshed.access_token).to.be.a('string').and.not.equal(tokens.access_token);
        // the session: a new authorization goes through silently, no email
        const silent = await startAuthorization(config, { prompt: '', scope: 'openid' });
        const again = await browser.get(silent.url.toString());
        expect(again.location, again.body).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));
        const silentTokens = await exchangeCode(config, silent, again.location!);

        // tokens from before and after verify against the JWKS the restarted instance publishes
        const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
        for (const idToken of [tokens.id_token!, refreshed.id_token!, silentTokens.id_token!]) {
          const { payload } = await jwtVerify(idToken, jwks, verifyOptions);
          expect(payload.sub).to.equal(first.payload.sub);
        }
        const kids = [tokens.id_token!, refreshed.id_token!, silentTokens.id_token!].map((t) => decodeProtectedHeader(t).kid);
        expect(new Set(kids).size, 'the same signing key before and after').to.equal(1);
        expect(silentTokens.claims()!.auth_time).to.equal(first.payload.auth_time);
        expect(server.starts).to.equal(4);
        expect(sink.messages, 'no second email was needed').to.have.length(0);
      } finally {
        await server.stop();
        await sink.close();
        await database.drop();
      }
    });
  });
}
