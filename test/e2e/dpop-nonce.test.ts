import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Browser } from '../support/browser.js';
import { client, discover, registerClient, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { startTestServer, TEST_SECRETS, type TestServer } from '../support/test-server.js';

/**
 * DPoP nonces (RFC 9449 §8): none by default; with DPOP_REQUIRE_NONCE, required on every proof.
 * They are derived from the newest HMAC secret, so instances sharing the secrets accept each
 * other's nonces and a server with another secret does not. Proofs are made by hand here (jose) so
 * that their nonce and `iat` are exactly what each case needs; a client library (openid-client)
 * shows that apps cope with a required nonce on their own.
 */
describe('DPoP nonces (sqlite)', function () {
  let plain: TestServer;
  let requiring: TestServer;
  let requiringToo: TestServer;
  let otherSecret: TestServer;
  const key = generateKeyPair('ES256');

  before(async () => {
    [plain, requiring, requiringToo, otherSecret] = await Promise.all([
      startTestServer('sqlite'),
      startTestServer('sqlite', { DPOP_REQUIRE_NONCE: 'true' }),
      startTestServer('sqlite', { DPOP_REQUIRE_NONCE: 'true' }),
      // another newest secret; the usual one stays listed, to open its database's signing key
      startTestServer('sqlite', { DPOP_REQUIRE_NONCE: 'true', HMAC_SECRETS: `another-hmac-secret-0123456789abcdefghijklmnop,${TEST_SECRETS.HMAC_SECRETS}` }),
    ]);
  });
  after(() => Promise.all([plain, requiring, requiringToo, otherSecret].map((server) => server?.close())));

  /** A machine client's client_credentials request at /token, with the DPoP proof given (if any). */
  async function tokenRequest(server: TestServer, proof?: string): Promise<{ status: number; nonce: string | null; body: Record<string, unknown> }> {
    const { client: machine, clientSecret } = await server.sesame.clients.add({ name: 'DPoP machine', grantTypes: ['client_credentials'] });
    const response = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${machine.clientId}:${clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        ...(proof ? { dpop: proof } : {}),
      },
      body: 'grant_type=client_credentials',
    });
    return { status: response.status, nonce: response.headers.get('dpop-nonce'), body: await response.json() as Record<string, unknown> };
  }

  async function proofFor(server: TestServer, claims: { nonce?: string; iat?: number } = {}): Promise<string> {
    const { publicKey, privateKey } = await key;
    return new SignJWT({ htm: 'POST', htu: `${server.issuer}/token`, jti: randomUUID(), iat: claims.iat ?? Math.floor(Date.now() / 1000), ...(claims.nonce ? { nonce: claims.nonce } : {}) })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
      .sign(privateKey);
  }

  it('by default none is asked for or handed out: a client that never retries keeps working', async () => {
    const answer = await tokenRequest(plain, await proofFor(plain));
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(answer.body.token_type).to.equal('DPoP');
    expect(answer.nonce).to.equal(null);
  });

  it('while required, a client whose clock is 10 minutes off gets its token with the nonce it is given', async () => {
    const skewed = Math.floor(Date.now() / 1000) - 600;
    const first = await tokenRequest(requiring, await proofFor(requiring, { iat: skewed }));
    expect(first.status).to.equal(400);
    expect(first.body.error).to.equal('use_dpop_nonce');
    expect(first.nonce).to.match(/^[\w-]{43}$/);
    const second = await tokenRequest(requiring, await proofFor(requiring, { iat: skewed, nonce: first.nonce! }));
    expect(second.status, JSON.stringify(second.body)).to.equal(200);
    expect(second.body.token_type).to.equal('DPoP');
  });

  it('with DPOP_REQUIRE_NONCE a proof without a nonce, or with one Sesame did not issue, gets use_dpop_nonce', async () => {
    const without = await tokenRequest(requiring, await proofFor(requiring));
    expect(without.status).to.equal(400);
    expect(without.body.error).to.equal('use_dpop_nonce');
    expect(without.nonce).to.be.a('string');
    const madeUp = await tokenRequest(requiring, await proofFor(requiring, { nonce: 'A'.repeat(43) }));
    expect(madeUp.body.error).to.equal('use_dpop_nonce');
    const issued = await tokenRequest(requiring, await proofFor(requiring, { nonce: without.nonce! }));
    expect(issued.status, JSON.stringify(issued.body)).to.equal(200);
    expect(issued.body.token_type).to.equal('DPoP');
  });

  it('a nonce from one instance works on another with the same secrets, not on a server with another secret', async () => {
    const { nonce } = await tokenRequest(requiring, await proofFor(requiring));
    const elsewhere = await tokenRequest(requiringToo, await proofFor(requiringToo, { nonce: nonce! }));
    expect(elsewhere.status, JSON.stringify(elsewhere.body)).to.equal(200);
    const foreign = await tokenRequest(otherSecret, await proofFor(otherSecret, { nonce: nonce! }));
    expect(foreign.status).to.equal(400);
    expect(foreign.body.error).to.equal('use_dpop_nonce');
  });

  it('an app using openid-client signs in with DPoP while nonces are required: code, refresh and userinfo', async () => {
    const config = await discover(requiring.issuer, await registerClient(requiring.sesame, { firstParty: true }));
    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair());
    const start = await startAuthorization(config);
    const callback = await signInWithLink(new Browser(requiring.issuer), requiring.smtp, start, 'dpop-nonce@example.com');
    const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
      pkceCodeVerifier: start.verifier,
      expectedState: start.state,
      expectedNonce: start.nonce,
    }, undefined, { DPoP });
    expect(tokens.token_type).to.equal('dpop');
    const sub = tokens.claims()!.sub;
    expect((await client.fetchUserInfo(config, tokens.access_token, sub, { DPoP })).email).to.equal('dpop-nonce@example.com');
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP });
    expect(refreshed.token_type).to.equal('dpop');
    expect((await client.fetchUserInfo(config, refreshed.access_token, sub, { DPoP })).sub).to.equal(sub);
  });
});
