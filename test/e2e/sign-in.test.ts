import { expect } from 'chai';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { Browser } from '../support/browser.js';
import { DB_KINDS } from '../support/databases.js';
import { client, discover, exchangeCode, expectOAuthError, POST_LOGOUT_URI, REDIRECT_URI, registerClient, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { loginDetails } from '../support/smtp-sink.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

for (const kind of DB_KINDS) {
  describe(`sign-in with a magic link, end to end (${kind})`, function () {
    let server: TestServer;

    before(async () => {
      server = await startTestServer(kind);
    });
    after(() => server?.close());

    it('signs a public first-party app in with code + PKCE, then userinfo, refresh, introspection, revocation and logout', async () => {
      const registered = await registerClient(server.sesame, { isPublic: true, firstParty: true });
      const config = await discover(server.issuer, registered);
      expect(config.serverMetadata().issuer).to.equal(server.issuer);
      expect(config.serverMetadata().code_challenge_methods_supported).to.deep.equal(['S256']);

      const browser = new Browser(server.issuer);
      const start = await startAuthorization(config);
      const callback = await signInWithLink(browser, server.smtp, start, 'alice@example.com');
      expect(new URL(callback).searchParams.get('iss')).to.equal(server.issuer);

      const tokens = await exchangeCode(config, start, callback);
      const idToken = tokens.id_token!;
      const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
      const { payload, protectedHeader } = await jwtVerify(idToken, jwks, { issuer: server.issuer, audience: registered.clientId });
      expect(protectedHeader.alg).to.equal('RS256');
      expect(payload.nonce).to.equal(start.nonce);
      expect(payload.exp).to.be.greaterThan(Date.now() / 1000);
      expect(payload.amr).to.deep.equal(['email']);
      expect(payload.sub).to.be.a('string').and.not.include('alice');
      // the claims of the granted scopes are in the ID token too (libraries that read only it get the address)
      expect(payload).to.include({ email: 'alice@example.com', email_verified: true });

      const userinfo = await client.fetchUserInfo(config, tokens.access_token, payload.sub!);
      expect(userinfo).to.include({ sub: payload.sub, email: 'alice@example.com', email_verified: true });

      expect(tokens.refresh_token).to.be.a('string');
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
      expect(refreshed.access_token).to.be.a('string').and.not.equal(tokens.access_token);
      expect(refreshed.refresh_token).to.be.a('string').and.not.equal(tokens.refresh_token);
      // rotation: the old refresh token is spent, and reusing it revokes the grant
      await expectOAuthError(client.refreshTokenGrant(config, tokens.refresh_token!), 'invalid_grant');
      await expectOAuthError(client.refreshTokenGrant(config, refreshed.refresh_token!), 'invalid_grant');

      // prompt=login: the existing session does not count, a new email is required
      const again = await startAuthorization(config, { prompt: 'login consent' });
      const fresh = await exchangeCode(config, again, await signInWithLink(browser, server.smtp, again, 'alice@example.com'));
      // a public client cannot authenticate, so introspection tells it nothing (not even about its
      // own live tokens: a stolen refresh token cannot be checked without redeeming it)
      expect((await client.tokenIntrospection(config, fresh.access_token)).active).to.equal(false);
      expect((await client.tokenIntrospection(config, fresh.refresh_token!)).active).to.equal(false);
      expect((await client.fetchUserInfo(config, fresh.access_token, payload.sub!)).sub).to.equal(payload.sub);
      await client.tokenRevocation(config, fresh.access_token);
      await expectOAuthError(client.fetchUserInfo(config, fresh.access_token, payload.sub!), 'invalid_token');

      const logoutUrl = client.buildEndSessionUrl(config, { id_token_hint: fresh.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI });
      const confirm = await browser.get(logoutUrl.toString());
      expect(confirm.status).to.equal(200);
      expect(confirm.body).to.include('Sign out');
      const done = await browser.submit(confirm, /\/session\/end\/confirm$/, { logout: 'yes' });
      expect(done.location).to.equal(POST_LOGOUT_URI);
    });

    it('signs a confidential third-party app in after consent, remembers the consent, and checks its secret', async () => {
      const registered = await registerClient(server.sesame, { name: 'Third Party App' });
      expect(registered.clientSecret).to.be.a('string');
      const row = await server.sesame.db('clients').where({ client_id: registered.clientId }).first();
      expect(JSON.stringify(row)).not.to.include(registered.clientSecret);

      const config = await discover(server.issuer, registered);
      const scope = { scope: 'openid email', prompt: '' };
      const start = await startAuthorization(config, scope);
      const callback = await signInWithLink(new Browser(server.issuer), server.smtp, start, 'carol@example.com', { consent: true });
      const tokens = await exchangeCode(config, start, callback);
      const userinfo = await client.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
      expect(userinfo.email).to.equal('carol@example.com');

      // a new browser, a new session: the consent given before is remembered
      const again = await startAuthorization(config, scope);
      await exchangeCode(config, again, await signInWithLink(new Browser(server.issuer), server.smtp, again, 'carol@example.com'));

      const wrongSecret = await discover(server.issuer, { clientId: registered.clientId, clientSecret: 'not-the-secret' });
      const third = await startAuthorization(wrongSecret, scope);
      const code = await signInWithLink(new Browser(server.issuer), server.smtp, third, 'carol@example.com');
      await expectOAuthError(exchangeCode(wrongSecret, third, code), 'invalid_client');
    });

    it('releases the name an operator set under the profile scope, in the ID token and userinfo, and nothing of it without', async () => {
      const config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
      const account = await server.sesame.accounts.createNew('named@example.com');
      await server.sesame.accounts.setName(account.id, '  Ada   Lovelace ');
      const withProfile = await startAuthorization(config, { scope: 'openid email profile' });
      const browser = new Browser(server.issuer);
      const tokens = await exchangeCode(config, withProfile, await signInWithLink(browser, server.smtp, withProfile, 'named@example.com'));
      expect(tokens.claims()).to.include({ name: 'Ada Lovelace', email: 'named@example.com' });
      expect(await client.fetchUserInfo(config, tokens.access_token, account.id)).to.include({ name: 'Ada Lovelace' });

      const without = await startAuthorization(config, { scope: 'openid email', prompt: '' });
      const again = await exchangeCode(config, without, (await browser.get(without.url.toString())).location!);
      expect(again.claims()).to.not.have.property('name');
      expect(await client.fetchUserInfo(config, again.access_token, account.id)).to.not.have.property('name');

      // a scope Sesame does not know is left out of the grant (OAuth 2.0 §3.3); one the app is not
      // registered for is refused, as docs/connecting-apps/README.md says
      const unknown = await startAuthorization(config, { scope: 'openid phone', prompt: '' });
      const granted = await exchangeCode(config, unknown, (await browser.get(unknown.url.toString())).location!);
      expect(granted.scope?.split(' ')).to.deep.equal(['openid']);
      const narrow = await server.sesame.clients.add({ name: 'Narrow', redirectUris: [REDIRECT_URI], isPublic: true, firstParty: true, scopes: ['openid', 'email'] });
      const narrowConfig = await discover(server.issuer, { clientId: narrow.client.clientId });
      const refusedScope = await browser.get((await startAuthorization(narrowConfig, { scope: 'openid profile', prompt: '' })).url.toString());
      expect(refusedScope.location).to.include('error=invalid_scope');
      let refused: unknown;
      await server.sesame.accounts.setName(account.id, 'x'.repeat(101)).catch((error: unknown) => (refused = error));
      expect((refused as { code?: string }).code).to.equal('invalid_name');
    });

    it('lets the person decline consent, and the app receives access_denied', async () => {
      const registered = await registerClient(server.sesame, { name: 'Declined App' });
      const config = await discover(server.issuer, registered);
      const start = await startAuthorization(config, { scope: 'openid email', prompt: '' });
      const browser = new Browser(server.issuer);
      const form = await browser.get(start.url.toString());
      await browser.submit(form, /\/email$/, { email: 'dave@example.com' });
      const { link } = loginDetails(await server.smtp.waitFor('dave@example.com'));
      const consent = await browser.submit(await browser.get(link), '/login/verify');
      expect(consent.body).to.include('Declined App wants to use your account');
      const declined = await browser.submit(consent, /\/abort$/);
      const result = new URL(declined.location!);
      expect(result.searchParams.get('error')).to.equal('access_denied');
      expect(result.searchParams.get('state')).to.equal(start.state);
    });
  });
}
