import { expect } from 'chai';
import { adminApi, type ApiResponse } from '../support/admin-api.js';
import { Browser } from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { DB_KINDS } from '../support/databases.js';
import { client, discover, exchangeCode, expectOAuthError, REDIRECT_URI, registerClient, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { withServer, type TestServer, cliEnv } from '../support/test-server.js';

const HOUR = 3_600_000;

interface RouteCase {
  route: string;
  /** the path under /admin/api; may create what the route acts on */
  path: (server: TestServer) => Promise<string> | string;
  scope: 'read' | 'write';
  body?: () => unknown;
  ok: number;
}

let unique = 0;
const fresh = async (server: TestServer) => (await server.sesame.accounts.create(`route-${++unique}@routes.example`)).id;
const freshClient = async (server: TestServer) => (await registerClient(server.sesame, { name: `Route ${++unique}` })).clientId;

/** Every route of the admin API but the public OpenAPI document (test/unit/admin-openapi.test.ts holds the router to the document). */
const ROUTES: RouteCase[] = [
  { route: 'GET /clients', path: () => '/clients', scope: 'read', ok: 200 },
  { route: 'POST /clients', path: () => '/clients', scope: 'write', body: () => ({ client_name: 'Route App', redirect_uris: [REDIRECT_URI] }), ok: 201 },
  { route: 'GET /clients/{client}', path: async (s) => `/clients/${await freshClient(s)}`, scope: 'read', ok: 200 },
  { route: 'PATCH /clients/{client}', path: async (s) => `/clients/${await freshClient(s)}`, scope: 'write', body: () => ({ client_name: 'Renamed' }), ok: 200 },
  { route: 'POST /clients/{client}/disable', path: async (s) => `/clients/${await freshClient(s)}/disable`, scope: 'write', ok: 200 },
  { route: 'POST /clients/{client}/enable', path: async (s) => `/clients/${await freshClient(s)}/enable`, scope: 'write', ok: 200 },
  { route: 'POST /clients/{client}/rotate-secret', path: async (s) => `/clients/${await freshClient(s)}/rotate-secret`, scope: 'write', ok: 200 },
  { route: 'DELETE /clients/{client}', path: async (s) => `/clients/${await freshClient(s)}`, scope: 'write', ok: 204 },
  { route: 'GET /accounts', path: () => '/accounts', scope: 'read', ok: 200 },
  { route: 'POST /accounts', path: () => '/accounts', scope: 'write', body: () => ({ email: `new-${++unique}@routes.example` }), ok: 201 },
  { route: 'GET /accounts/{account}', path: async (s) => `/accounts/${await fresh(s)}`, scope: 'read', ok: 200 },
  { route: 'POST /accounts/{account}/disable', path: async (s) => `/accounts/${await fresh(s)}/disable`, scope: 'write', ok: 200 },
  { route: 'POST /accounts/{account}/enable', path: async (s) => `/accounts/${await fresh(s)}/enable`, scope: 'write', ok: 200 },
  { route: 'POST /accounts/{account}/change-email', path: async (s) => `/accounts/${await fresh(s)}/change-email`, scope: 'write', body: () => ({ new_email: `moved-${++unique}@routes.example` }), ok: 202 },
  { route: 'DELETE /accounts/{account}', path: async (s) => `/accounts/${await fresh(s)}`, scope: 'write', ok: 204 },
  { route: 'GET /keys', path: () => '/keys', scope: 'read', ok: 200 },
  { route: 'POST /keys/rotate', path: () => '/keys/rotate', scope: 'write', body: () => ({ activate_after: 3600 }), ok: 201 },
  { route: 'GET /audit', path: () => '/audit', scope: 'read', ok: 200 },
];

for (const kind of DB_KINDS) {
  describe(`admin API (${kind})`, function () {
    this.timeout(60_000);
    let api: ReturnType<typeof adminApi>;
    const tokens = { read: '', write: '', register: '', revoked: '', expired: '' };
    let writeId = '';

    const server = withServer(kind);
    before(async () => {
      api = adminApi(server.issuer);
      const admin = server.sesame.adminTokens;
      tokens.read = (await admin.create({ name: 'reader', scopes: ['read'] })).token;
      const writer = await admin.create({ name: 'writer', scopes: ['write'] });
      tokens.write = writer.token;
      writeId = writer.info.id;
      tokens.register = (await admin.create({ name: 'registrar', scopes: ['register'] })).token;
      const revoked = await admin.create({ name: 'revoked', scopes: ['write'] });
      await admin.revoke(revoked.info.id);
      tokens.revoked = revoked.token;
      // created two hours ago, valid for one
      tokens.expired = (await admin.create({ name: 'expired', scopes: ['write'], expiresInSeconds: 3600 }, Date.now() - 2 * HOUR)).token;
    });

    const expectError = (res: ApiResponse, status: number, error: string) => {
      expect(res.status, JSON.stringify(res.body)).to.equal(status);
      expect(res.body).to.have.keys('error', 'error_description');
      expect(res.body.error).to.equal(error);
      expect(res.headers.get('content-type')).to.match(/^application\/json/);
    };

    for (const route of ROUTES) {
      it(`${route.route}: 401 without a token, with a revoked or an expired one; ${route.scope === 'read' ? '200' : '403'} with a read token; ${route.ok} with a write token`, async () => {
        const method = route.route.split(' ')[0];
        const call = async (token?: string) => api(method, await route.path(server), { token, body: route.body?.() });
        const none = await call();
        expectError(none, 401, 'unauthorized');
        expect(none.headers.get('www-authenticate')).to.match(/^Bearer /);
        for (const token of [tokens.revoked, tokens.expired, 'sesame_at_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', tokens.write.slice(0, -1)]) {
          const refused = await call(token);
          expectError(refused, 401, 'invalid_token');
          expect(refused.headers.get('www-authenticate')).to.include('error="invalid_token"');
        }
        // a registration token is not an admin token
        expectError(await call(tokens.register), 403, 'insufficient_scope');
        const asReader = await call(tokens.read);
        if (route.scope === 'read') expect(asReader.status, JSON.stringify(asReader.body)).to.equal(200);
        else {
          expectError(asReader, 403, 'insufficient_scope');
          expect(asReader.headers.get('www-authenticate')).to.include('scope="write"');
        }
        const asWriter = await call(tokens.write);
        expect(asWriter.status, JSON.stringify(asWriter.body)).to.equal(route.ok);
        expect(asWriter.headers.get('cache-control')).to.equal('no-store');
      });
    }

    it('refuses what it does not do: 403 changes nothing, unknown paths and methods are JSON errors', async () => {
      const id = await fresh(server);
      expectError(await api('DELETE', `/accounts/${id}`, { token: tokens.read }), 403, 'insufficient_scope');
      expect(await server.sesame.accounts.findById(id)).to.include({ status: 'active' });
      expectError(await api('GET', '/nothing-here', { token: tokens.write }), 404, 'not_found');
      expectError(await api('GET', '/nothing-here'), 404, 'not_found');
      const wrongMethod = await api('PUT', '/accounts', { token: tokens.write, body: {} });
      expectError(wrongMethod, 405, 'method_not_allowed');
      expect(wrongMethod.headers.get('allow')).to.include('POST');
      expectError(await api('GET', '/accounts/nobody@nowhere.example', { token: tokens.read }), 404, 'account_not_found');
      expectError(await api('POST', '/accounts/no-such-id/disable', { token: tokens.write }), 404, 'account_not_found');
    });

    it('validates input: 422 naming the field, unknown fields and parameters refused, 409 for an existing address', async () => {
      const post = (body: unknown) => api('POST', '/accounts', { token: tokens.write, body });
      const cases: [ApiResponse, string][] = [
        [await post({}), 'email: required'],
        [await post({ email: 'not-an-address' }), 'email:'],
        [await post({ email: 42 }), 'email: must be a string'],
        [await post({ email: 'x@example.com', role: 'admin' }), 'role: unknown field'],
        [await post(['x@example.com']), 'body: must be a JSON object'],
        [await api('GET', '/accounts?limit=0', { token: tokens.read }), 'limit:'],
        [await api('GET', '/accounts?limit=2&limit=3', { token: tokens.read }), 'limit: given more than once'],
        [await api('GET', '/accounts?sort=email', { token: tokens.read }), 'sort: unknown parameter'],
        [await api('GET', '/audit?since=yesterday', { token: tokens.read }), 'since:'],
        [await api('GET', '/audit?after=abc', { token: tokens.read }), 'after:'],
        [await api('POST', '/keys/rotate', { token: tokens.write, body: { activate_after: -1 } }), 'activate_after:'],
        [await api('POST', `/accounts/${await fresh(server)}/disable`, { token: tokens.write, body: { reason: 'x' } }), 'reason: unknown field'],
      ];
      for (const [res, field] of cases) {
        expectError(res, 422, 'invalid_request');
        expect(res.body.error_description).to.include(field);
      }
      expect((await post({ email: 'Twice@Example.com' })).status).to.equal(201);
      const again = await post({ email: 'twice@example.com' });
      expectError(again, 409, 'account_exists');
    });

    it('takes JSON only, at most 64 kB, and never sends CORS headers', async () => {
      const big = await api('POST', '/accounts', { token: tokens.write, body: { email: `${'a'.repeat(70_000)}@example.com` } });
      expectError(big, 413, 'request_too_large');
      const form = await api('POST', '/accounts', { token: tokens.write, raw: 'email=a@example.com', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expectError(form, 415, 'unsupported_media_type');
      const broken = await api('POST', '/accounts', { token: tokens.write, raw: '{"email":', headers: { 'content-type': 'application/json' } });
      expectError(broken, 400, 'invalid_json');

      const origin = { origin: 'https://evil.example' };
      const preflight = { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' };
      const answers = [
        await api('OPTIONS', '/accounts', { headers: preflight }),
        await api('OPTIONS', '/accounts', { token: tokens.write, headers: preflight }),
        await api('GET', '/accounts', { token: tokens.read, headers: origin }),
        await api('GET', '/accounts', { headers: origin }),
        await api('GET', '/openapi.json', { headers: origin }),
      ];
      for (const res of answers) {
        expect([...res.headers.keys()].filter((name) => name.startsWith('access-control-')), `${res.status}`).to.deep.equal([]);
      }
      // oidc-provider's own endpoints do answer cross-origin callers: the check above can fail
      const jwks = await fetch(`${server.issuer}/jwks`, { headers: origin });
      expect(jwks.headers.get('access-control-allow-origin')).to.be.a('string');
    });

    it('serves its OpenAPI document without a token', async () => {
      const res = await api('GET', '/openapi.json');
      expect(res.status).to.equal(200);
      expect(res.body.openapi).to.match(/^3\.1\./);
      expect(res.body.paths).to.have.property('/accounts');
    });

    it('audits every change with the token as the actor, and records when a token was last used', async () => {
      const created = await api('POST', '/accounts', { token: tokens.write, body: { email: 'audited@example.com' } });
      expect(created.status).to.equal(201);
      await api('POST', `/accounts/${created.body.id}/disable`, { token: tokens.write });
      await api('POST', '/keys/rotate', { token: tokens.write });
      const events = await server.sesame.audit.query({ accountId: created.body.id });
      expect(events.map((e) => e.type)).to.include.members(['admin.account.created', 'admin.account.disabled']);
      for (const event of events) expect(event.actor).to.equal(`admin-token:${writeId}`);
      const [rotated] = await server.sesame.audit.query({ type: 'admin.key.rotated' });
      expect(rotated.actor).to.equal(`admin-token:${writeId}`);
      // "what did this token do?", through the API
      const byToken = await api('GET', `/audit?actor=admin-token:${writeId}&limit=1000`, { token: tokens.read });
      expect(byToken.body.items.map((e: { type: string }) => e.type)).to.include.members(['admin.account.created', 'admin.account.disabled', 'admin.key.rotated']);
      for (const event of byToken.body.items) expect(event.actor).to.equal(`admin-token:${writeId}`);
      // the same trail through the API, with the CLI's filters, page by page
      const first = await api('GET', `/audit?account=${created.body.id}&limit=1`, { token: tokens.read });
      expect(first.body.items).to.have.length(1);
      expect(first.body.items[0]).to.include({ type: 'admin.account.disabled' });
      const second = await api('GET', `/audit?account=${created.body.id}&limit=1&after=${first.body.next}`, { token: tokens.read });
      expect(second.body.items[0]).to.include({ type: 'admin.account.created' });
      expect(second.body.next).to.equal(null);

      const listed = await server.sesame.adminTokens.list();
      expect(listed.find((t) => t.id === writeId)!.lastUsedAt).to.be.a('number');
      expect(listed.find((t) => t.name === 'expired')!.lastUsedAt).to.equal(null);
    });

    it('starts an address change that the new address must confirm, audited with the token', async () => {
      await server.sesame.accounts.create('moving@example.com');
      await server.sesame.accounts.create('taken@example.com');
      const path = '/accounts/moving@example.com/change-email';
      const asked = await api('POST', path, { token: tokens.write, body: { new_email: 'Moved@Example.com' } });
      expect(asked.status, JSON.stringify(asked.body)).to.equal(202);
      expect(asked.body).to.include({ email: 'moving@example.com', new_email: 'moved@example.com', state: 'pending' });
      const mail = await server.smtp.waitFor('moved@example.com');
      expect(mail.parsed.text).to.match(/\/account\/email\/confirm\?token=/);
      // nothing changes until the link is confirmed
      expect((await server.sesame.accounts.get(asked.body.id)).email).to.equal('moving@example.com');
      const [event] = await server.sesame.audit.query({ accountId: asked.body.id, type: 'account.email_change_requested' });
      expect(event.actor).to.equal(`admin-token:${writeId}`);
      expect(event.details).to.include({ via: 'api' });

      expectError(await api('POST', path, { token: tokens.write, body: { new_email: 'taken@example.com' } }), 409, 'email_taken');
      for (const [newEmail, problem] of [['not-an-address', 'new_email:'], ['moving@example.com', 'already the address']]) {
        const refused = await api('POST', path, { token: tokens.write, body: { new_email: newEmail } });
        expectError(refused, 422, 'invalid_request');
        expect(refused.body.error_description).to.include(problem);
      }
      expectError(await api('POST', path, { token: tokens.write, body: {} }), 422, 'invalid_request');
      const unknownLocale = await api('POST', path, { token: tokens.write, body: { new_email: 'elsewhere@example.com', locale: 'xx' } });
      expectError(unknownLocale, 422, 'invalid_request');
      expect(unknownLocale.body.error_description).to.include('locale: must be one of de, en');
      await server.sesame.accounts.create('umzug@example.com');
      const german = await api('POST', '/accounts/umzug@example.com/change-email', { token: tokens.write, body: { new_email: 'umgezogen@example.com', locale: 'de' } });
      expect(german.status, JSON.stringify(german.body)).to.equal(202);
      expect((await server.smtp.waitFor('umgezogen@example.com')).parsed.subject).to.include('Bestätigen Sie Ihre neue E-Mail-Adresse');
      expectError(await api('POST', '/accounts/nobody@example.com/change-email', { token: tokens.write, body: { new_email: 'x@example.com' } }), 404, 'account_not_found');
    });

    it('lists accounts page by page, searching by part of the address', async () => {
      for (const email of ['page-a@api-list.example', 'page-b@api-list.example', 'page-c@api-list.example']) {
        expect((await api('POST', '/accounts', { token: tokens.write, body: { email } })).status).to.equal(201);
      }
      const first = await api('GET', '/accounts?search=%40api-list.example&limit=2', { token: tokens.read });
      expect(first.body.items.map((a: { email: string }) => a.email)).to.deep.equal(['page-a@api-list.example', 'page-b@api-list.example']);
      const rest = await api('GET', `/accounts?search=%40api-list.example&limit=2&after=${encodeURIComponent(first.body.next)}`, { token: tokens.read });
      expect(rest.body).to.deep.include({ next: null });
      expect(rest.body.items.map((a: { email: string }) => a.email)).to.deep.equal(['page-c@api-list.example']);
    });

    it('sets and removes the display name of an account (write scope), refusing one too long', async () => {
      expect((await api('POST', '/accounts', { token: tokens.write, body: { email: 'named@api.example' } })).status).to.equal(201);
      expect((await api('PATCH', '/accounts/named@api.example', { token: tokens.read, body: { name: 'Grace' } })).status).to.equal(403);
      const named = await api('PATCH', '/accounts/named@api.example', { token: tokens.write, body: { name: ' Grace  Hopper ' } });
      expect(named.status).to.equal(200);
      expect(named.body).to.include({ name: 'Grace Hopper', email: 'named@api.example' });
      const tooLong = await api('PATCH', '/accounts/named@api.example', { token: tokens.write, body: { name: 'x'.repeat(101) } });
      expect(tooLong.status).to.equal(422);
      expect((await api('PATCH', '/accounts/named@api.example', { token: tokens.write, body: { name: '' } })).body).to.include({ name: null });
      const [event] = await server.sesame.audit.query({ type: 'admin.account.renamed' });
      expect(event?.actor).to.match(/^admin-token:/);
    });

    it('a client registered through the API signs people in; its rotated secret works and the old one does not; disabled, it cannot start a sign-in', async () => {
      const created = await api('POST', '/clients', { token: tokens.write, body: { client_name: 'API App', redirect_uris: [REDIRECT_URI], first_party: true } });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      expect(created.body).to.include({ client_name: 'API App', token_endpoint_auth_method: 'client_secret_basic', first_party: true, enabled: true });
      const { client_id: clientId, client_secret: first } = created.body;
      expect(first).to.be.a('string');
      const shown = await api('GET', `/clients/${clientId}`, { token: tokens.read });
      expect(JSON.stringify(shown.body)).not.to.include(first);
      const signIn = async (secret: string, email: string) => {
        const config = await discover(server.issuer, { clientId, clientSecret: secret });
        const start = await startAuthorization(config, { scope: 'openid', prompt: '' });
        return exchangeCode(config, start, await signInWithLink(new Browser(server.issuer), server.smtp, start, email));
      };
      expect((await signIn(first, 'api-app1@example.com')).access_token).to.be.a('string');

      const rotated = await api('POST', `/clients/${clientId}/rotate-secret`, { token: tokens.write });
      expect(rotated.status).to.equal(200);
      const second = rotated.body.client_secret;
      expect(second).to.be.a('string').and.not.equal(first);
      await expectOAuthError(signIn(first, `api-app2-${Date.now()}@example.com`), 'invalid_client');
      expect((await signIn(second, 'api-app3@example.com')).access_token).to.be.a('string');

      const authStatus = async () => {
        const url = new URL(`${server.issuer}/auth`);
        url.search = new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }).toString();
        return (await fetch(url, { redirect: 'manual' })).status;
      };
      expect(await authStatus()).to.equal(303);
      expect((await api('POST', `/clients/${clientId}/disable`, { token: tokens.write })).body).to.include({ enabled: false });
      expect(await authStatus()).to.equal(400);
      expect((await api('POST', `/clients/${clientId}/enable`, { token: tokens.write })).body).to.include({ enabled: true });
      expect(await authStatus()).to.equal(303);

      const events = await server.sesame.audit.query({ clientId });
      expect(events.map((e) => e.type)).to.include.members(['admin.client.added', 'admin.client.secret_rotated', 'admin.client.disabled', 'admin.client.enabled']);
      for (const event of events.filter((e) => e.type.startsWith('admin.'))) expect(event.actor).to.equal(`admin-token:${writeId}`);
    });

    it('validates clients: 422 naming the field, 404 for an unknown client, 409 for rotating the secret of a client that has none', async () => {
      const bad = await api('POST', '/clients', { token: tokens.write, body: { client_name: 'Bad', redirect_uris: ['http://evil.example/cb'] } });
      expectError(bad, 422, 'invalid_client_metadata');
      expect(bad.body.error_description).to.include('redirect_uris').and.include('loopback');
      const unknownField = await api('POST', '/clients', { token: tokens.write, body: { client_name: 'Bad', redirect_uris: [REDIRECT_URI], admin: true } });
      expectError(unknownField, 422, 'invalid_client_metadata');
      expect(unknownField.body.error_description).to.include('admin');
      const noName = await api('POST', '/clients', { token: tokens.write, body: { redirect_uris: [REDIRECT_URI] } });
      expectError(noName, 422, 'invalid_client_metadata');
      expect(noName.body.error_description).to.include('client_name');
      const { clientId } = await registerClient(server.sesame);
      const badPatch = await api('PATCH', `/clients/${clientId}`, { token: tokens.write, body: { logo_uri: 'http://logo.example/x.png' } });
      expectError(badPatch, 422, 'invalid_client_metadata');
      expect(badPatch.body.error_description).to.include('logo_uri');
      expectError(await api('GET', '/clients/no-such-client', { token: tokens.read }), 404, 'client_not_found');
      expectError(await api('DELETE', '/clients/no-such-client', { token: tokens.write }), 404, 'client_not_found');
      const { clientId: publicId } = await registerClient(server.sesame, { isPublic: true });
      expectError(await api('POST', `/clients/${publicId}/rotate-secret`, { token: tokens.write }), 409, 'no_client_secret');
    });

    it('lists clients page by page in the order they were registered', async () => {
      const all = (await api('GET', '/clients?limit=500', { token: tokens.read })).body.items.map((c: { client_id: string }) => c.client_id);
      expect(all.length).to.be.at.least(3);
      const seen: string[] = [];
      let after: string | null = null;
      do {
        const res: ApiResponse = await api('GET', `/clients?limit=2${after ? `&after=${encodeURIComponent(after)}` : ''}`, { token: tokens.read });
        expect(res.body.items.length).to.be.at.most(2);
        seen.push(...res.body.items.map((c: { client_id: string }) => c.client_id));
        after = res.body.next;
      } while (after);
      expect(seen).to.deep.equal(all);
      expectError(await api('GET', '/clients?after=nonsense', { token: tokens.read }), 422, 'invalid_request');
    });

    it('an account disabled through the API cannot sign in and its refresh token stops working; enabled, it can again', async () => {
      const registered = await registerClient(server.sesame, { isPublic: true, firstParty: true });
      const config = await discover(server.issuer, registered);
      const start = await startAuthorization(config);
      const tokensOf = await exchangeCode(config, start, await signInWithLink(new Browser(server.issuer), server.smtp, start, 'disable-me@example.com'));
      const shown = await api('GET', '/accounts/disable-me@example.com', { token: tokens.read });
      expect(shown.body).to.include({ id: tokensOf.claims()!.sub, sessions: 1 });
      expect(shown.body.apps_with_access).to.deep.equal([registered.clientId]);

      expect((await api('POST', '/accounts/disable-me@example.com/disable', { token: tokens.write })).body).to.include({ status: 'disabled' });
      await expectOAuthError(client.refreshTokenGrant(config, tokensOf.refresh_token!), 'invalid_grant');
      const browser = new Browser(server.issuer);
      const form = await browser.get((await startAuthorization(config)).url.toString());
      expect((await browser.submit(form, /\/email$/, { email: 'disable-me@example.com' })).body).to.include('Check your email');
      const last = await server.sesame.db('mail_outbox').orderBy('id', 'desc').first();
      expect(Boolean(last.withheld), 'queued withheld').to.equal(true);

      await api('POST', '/accounts/disable-me@example.com/enable', { token: tokens.write });
      const again = await startAuthorization(config);
      const back = await exchangeCode(config, again, await signInWithLink(new Browser(server.issuer), server.smtp, again, 'disable-me@example.com'));
      expect(back.claims()!.sub).to.equal(tokensOf.claims()!.sub);
    });
  });
}

for (const kind of DB_KINDS) {
  describe(`admin tokens with the register scope are initial access tokens for Dynamic Client Registration (${kind})`, function () {
    this.timeout(60_000);
    const server = withServer(kind, { REGISTRATION_ENABLED: 'true' });

    const register = (token: string) => fetch(`${server.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ client_name: 'DCR App', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'client_secret_basic' }),
    });

    it('registers a client with a register token, which then signs people in; other, revoked and expired tokens are refused', async () => {
      const admin = server.sesame.adminTokens;
      const registrar = await admin.create({ name: 'registrar', scopes: ['register'] });
      const writer = await admin.create({ name: 'writer', scopes: ['write', 'read'] });
      const revoked = await admin.create({ name: 'revoked', scopes: ['register'] });
      await admin.revoke(revoked.info.id);
      const expired = await admin.create({ name: 'expired', scopes: ['register'], expiresInSeconds: 60 }, Date.now() - HOUR);
      for (const token of [writer.token, revoked.token, expired.token, 'not-a-token']) expect((await register(token)).status).to.equal(401);

      const response = await register(registrar.token);
      const registered = await response.json() as { client_id: string; client_secret: string };
      expect(response.status, JSON.stringify(registered)).to.equal(201);
      const config = await discover(server.issuer, { clientId: registered.client_id, clientSecret: registered.client_secret });
      const start = await startAuthorization(config, { scope: 'openid email', prompt: '' });
      const tokens = await exchangeCode(config, start, await signInWithLink(new Browser(server.issuer), server.smtp, start, 'dcr@example.com', { consent: true }));
      expect(tokens.claims()!.aud).to.equal(registered.client_id);
    });
  });
}

for (const kind of DB_KINDS) {
  describe(`admin API with ADMIN_API_ENABLED unset: there while an admin token is active (production, ${kind})`, function () {
    this.timeout(60_000);
    let api: ReturnType<typeof adminApi>;
    const server = withServer(kind, {}, { scheme: 'https', mode: 'production' });
    before(async () => {
      api = adminApi(server.issuer.replace('https:', 'http:'));
    });

    it('answers 404 until a token exists, and again at once when the last one is revoked', async () => {
      const tokens = server.sesame.adminTokens;
      for (const path of ['/openapi.json', '/accounts']) expect((await api('GET', path)).status, path).to.equal(404);
      // an expired token does not count
      await tokens.create({ name: 'expired', scopes: ['write'], expiresInSeconds: 60 }, Date.now() - 120_000);
      expect((await api('GET', '/openapi.json')).status).to.equal(404);

      const first = await tokens.create({ name: 'first', scopes: ['read'] });
      const second = await tokens.create({ name: 'second', scopes: ['read'], expiresInSeconds: 3600 });
      expect((await api('GET', '/openapi.json')).status).to.equal(200);
      expect((await api('GET', '/accounts')).status).to.equal(401);
      expect((await api('GET', '/accounts', { token: first.token })).status).to.equal(200);

      await tokens.revoke(first.info.id);
      expect((await api('GET', '/accounts', { token: second.token })).status, 'one active token is enough').to.equal(200);
      await tokens.revoke(second.info.id);
      for (const path of ['/openapi.json', '/accounts']) {
        const res = await api('GET', path, { token: second.token });
        expect(res.status, path).to.equal(404);
        expect(JSON.stringify(res.body ?? '')).not.to.include('items');
      }
    });
  });
}

describe('admin API switched off (ADMIN_API_ENABLED=false)', function () {
  this.timeout(60_000);
  const server = withServer('sqlite', { ADMIN_API_ENABLED: 'false' });

  it('answers nothing under /admin/api, even with a valid token', async () => {
    const { token } = await server.sesame.adminTokens.create({ name: 'unused', scopes: ['read'] });
    for (const path of ['/accounts', '/openapi.json']) {
      const res = await adminApi(server.issuer)('GET', path, { token });
      expect(res.status).to.equal(404);
      expect(JSON.stringify(res.body ?? '')).not.to.include('items');
    }
  });
});

for (const kind of DB_KINDS) {
  describe(`sesame admin-tokens, run as a user would (${kind})`, function () {
    this.timeout(60_000);
    let env: Record<string, string>;
    // on whatever tokens exist: a revoked token must get 401 even when it was the last one
    const server = withServer(kind, { ADMIN_API_ENABLED: 'true' });
    before(async () => {
      env = cliEnv(server);
    });

    it('creates a token shown once, lists it without the secret, and revokes it at once', async () => {
      const api = adminApi(server.issuer);
      const created = await runCli(['admin-tokens', 'create', '--name', 'ci reader', '--scope', 'read', '--expires-in', '30d', '--json'], env);
      expect(created.code, created.stderr).to.equal(0);
      const { id, token, scopes, expires_at: expiresAt } = JSON.parse(created.stdout);
      expect(token).to.match(/^sesame_at_[0-9a-f]{16}_/);
      expect(scopes).to.deep.equal(['read']);
      expect(Date.parse(expiresAt) - Date.now()).to.be.within(29 * 24 * HOUR, 30 * 24 * HOUR);
      expect((await api('GET', '/accounts', { token })).status).to.equal(200);
      expect((await api('POST', '/accounts', { token, body: { email: 'cli-token@example.com' } })).status).to.equal(403);
      // only a keyed hash is stored
      const row = await server.sesame.db('admin_tokens').where({ id }).first();
      // (the secret is all after sesame_at_<16 hex id>_; it may itself contain "_")
      const secret = token.slice('sesame_at_'.length + 17);
      expect(secret).to.have.length(43);
      expect(JSON.stringify(row)).not.to.include(secret);

      const listed = await runCli(['admin-tokens', 'list'], env);
      expect(listed.stdout).to.include(id).and.include('ci reader').and.include('active').and.not.include(token);
      const listedJson = JSON.parse((await runCli(['admin-tokens', 'list', '--json'], env)).stdout) as { id: string; last_used_at: string | null }[];
      expect(listedJson.find((t) => t.id === id)!.last_used_at).to.be.a('string');

      const revoked = await runCli(['admin-tokens', 'revoke', id], env);
      expect(revoked.code, revoked.stderr).to.equal(0);
      expect((await api('GET', '/accounts', { token })).status).to.equal(401);
      expect((await runCli(['admin-tokens', 'revoke', id], env)).stdout).to.include('already revoked');
      expect((await runCli(['admin-tokens', 'list'], env)).stdout).to.match(new RegExp(`${id}.*revoked`));

      const plain = await runCli(['admin-tokens', 'create', '--name', 'dcr', '--scope', 'register', '--scope', 'read'], env);
      expect(plain.stdout).to.match(/^token: sesame_at_\S+$/m);
      const events = await server.sesame.audit.query({ type: 'admin.token.created' });
      expect(events.map((e) => e.details?.tokenName)).to.include.members(['ci reader', 'dcr']);
      expect(events[0].actor).to.match(/^cli:\S+$/);
      // the token the event is about stays in the details, apart from who made it
      expect(events[0].details).to.include({ tokenName: 'dcr' });
      const audited = await runCli(['audit', '--actor', events[0].actor!, '--type', 'admin.token.created'], env);
      expect(audited.stdout).to.include(`by=${events[0].actor}`).and.to.include('tokenName=dcr');
      expect((await server.sesame.audit.query({ type: 'admin.token.revoked' }))).to.have.length(1);
    });

    it('verifies register tokens for client registration', async () => {
      const created = JSON.parse((await runCli(['admin-tokens', 'create', '--name', 'registration', '--scope', 'register', '--json'], env)).stdout);
      const actor = await server.sesame.adminTokens.verify(created.token);
      expect(actor).to.deep.equal({ id: created.id, name: 'registration', scopes: ['register'] });
      expect(await server.sesame.adminTokens.verify(`${created.token}x`)).to.equal(undefined);
    });

    it('refuses bad input with a clear message and no stack trace', async () => {
      const badScope = await runCli(['admin-tokens', 'create', '--name', 'x', '--scope', 'admin'], env);
      expect(badScope.code).to.equal(1);
      expect(badScope.stderr).to.include('"admin" is not one of read, write, register');
      const noScope = await runCli(['admin-tokens', 'create', '--name', 'x'], env);
      expect(noScope.code).to.equal(2);
      expect(noScope.stderr).to.include('--scope').and.include('Usage:').and.include('admin-tokens create');
      const badExpiry = await runCli(['admin-tokens', 'create', '--name', 'x', '--scope', 'read', '--expires-in', 'soon'], env);
      expect(badExpiry.code).to.equal(2);
      const unknown = await runCli(['admin-tokens', 'revoke', 'ffffffffffffffff'], env);
      expect(unknown.code).to.equal(1);
      expect(unknown.stderr).to.include('no admin token');
      for (const result of [badScope, noScope, badExpiry, unknown]) expect(result.stderr).not.to.match(/\n\s+at /);
    });
  });
}
