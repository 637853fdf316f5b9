import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import Provider from 'oidc-provider';
import { compareHashedClientSecrets, currentRequestState, GRANT_NOT_ALLOWED, pinOriginToIssuer } from '../../src/oidc/patches.js';

/**
 * One contract per patch of src/oidc/patches.ts: each checks, against the installed oidc-provider,
 * what the patch relies on. When an update of the library changes it, the contract fails here
 * (the end-to-end tests then show what it broke).
 */
const libDir = dirname(createRequire(import.meta.url).resolve('oidc-provider'));
const source = (file: string) => readFileSync(join(libDir, file), 'utf8');

/** A bare provider on a free port (development interactions off: nothing here signs in). */
async function withProvider(fn: (provider: Provider, base: string) => Promise<void>): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(base, {
    features: { devInteractions: { enabled: false } },
    clients: [{ client_id: 'patched', client_secret: 'stored-form-of-the-secret', redirect_uris: ['https://app.example/cb'], grant_types: ['authorization_code'], response_types: ['code'] }],
  });
  server.on('request', provider.callback());
  try {
    await fn(provider, base);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('oidc-provider patches: what each relies on is still there', () => {
  it('1. client authentication asks Client#compareClientSecret, which the patch replaces', async () => {
    expect(source('shared/client_auth.js')).to.include('.compareClientSecret(');
    await withProvider(async (provider, base) => {
      expect(provider.Client.prototype.compareClientSecret).to.be.a('function');
      const presented: string[] = [];
      compareHashedClientSecrets(provider, (secret, stored) => {
        presented.push(`${secret}|${stored}`);
        return secret === 'what-the-client-sends';
      });
      const token = (secret: string) => fetch(`${base}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`patched:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: 'x', redirect_uri: 'https://app.example/cb' }),
      }).then((res) => res.json() as Promise<{ error: string }>);
      // the presented secret reaches the patch with the stored form; the patch's answer decides
      expect((await token('what-the-client-sends')).error).to.equal('invalid_grant');
      expect((await token('stored-form-of-the-secret')).error).to.equal('invalid_client');
      expect(presented).to.deep.equal(['what-the-client-sends|stored-form-of-the-secret', 'stored-form-of-the-secret|stored-form-of-the-secret']);
    });
  });

  it('2. every URL oidc-provider builds comes from request.protocol and request.host, which the patch pins', async () => {
    await withProvider(async (provider, base) => {
      pinOriginToIssuer(provider, 'https://id.example.com');
      const discovery = await fetch(`${base}/.well-known/openid-configuration`, { headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' } });
      const metadata = (await discovery.json()) as { authorization_endpoint: string };
      // the issuer itself is configured; the endpoints are built from the request
      expect(metadata.authorization_endpoint).to.equal('https://id.example.com/auth');
    });
  });

  it('3. Provider.ctx is the koa context of the request being served, inside the storage adapter', async () => {
    expect(Object.getOwnPropertyDescriptor(Provider, 'ctx')?.get).to.be.a('function');
    const seen: unknown[] = [];
    class RecordingAdapter {
      async find() {
        seen.push(currentRequestState()?.marker);
        return undefined;
      }
      async upsert() {}
      async findByUid() { return undefined; }
      async findByUserCode() { return undefined; }
      async consume() {}
      async destroy() {}
      async revokeByGrantId() {}
    }
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const provider = new Provider(base, { adapter: RecordingAdapter, features: { devInteractions: { enabled: false } } });
    provider.use(async (ctx, next) => {
      ctx.state.marker = 'this request';
      await next();
    });
    server.on('request', provider.callback());
    try {
      // an unknown client is looked up through the adapter, inside oidc-provider's handling
      await (await fetch(`${base}/auth?client_id=unknown&response_type=code&scope=openid`)).arrayBuffer();
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    expect(seen).to.include('this request');
    expect(currentRequestState(), 'outside a request').to.equal(undefined);
  });

  it('4. a grant type the client is not registered for is refused with the description the rename matches', () => {
    expect(source('actions/token.js')).to.include(GRANT_NOT_ALLOWED);
  });

  it('5. oidc-provider reads a body parsed before it from ctx.request.body', () => {
    const selective = source('shared/selective_body.js');
    expect(selective).to.include('ctx.req.readable');
    expect(selective).to.include('ctx.request.body');
  });

  it("6. the session is found by the id in its signed cookie, provider.cookieName('session'), with Session.find", async () => {
    const session = source('models/session.js');
    expect(session).to.include("provider.cookieName('session')");
    expect(session).to.include('configuration.cookies.long');
    expect(session).to.include('this.find(cookieSessionId)');
    await withProvider(async (provider) => {
      expect(provider.cookieName('session')).to.equal('_session');
      const saved = new (provider.Session as unknown as new (payload: object) => InstanceType<typeof provider.Session>)({ accountId: 'someone', loginTs: 1_800_000_000 });
      await saved.save(60);
      const found = await provider.Session.find(saved.jti);
      expect(found?.accountId).to.equal('someone');
      expect(found?.loginTs).to.equal(1_800_000_000);
      expect(found?.uid).to.equal(saved.uid);
    });
  });
});
