import { expect } from 'chai';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { rotateSigningKey } from '../../src/oidc/signing-keys.js';
import { SecretBox } from '../../src/shared/crypto.js';
import { KnexSigningKeyStore } from '../../src/store/signing-key-store.js';
import { Browser } from '../support/browser.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { discover, exchangeCode, registerClient, signInWithLink, startAuthorization } from '../support/relying-party.js';
import { startTestServer, TEST_SECRETS, type TestServer } from '../support/test-server.js';

const NEW_SECRET = 'rotated-hmac-secret-0123456789abcdefghijklmnop';

/**
 * The signing key's private part is encrypted in the database with a key derived from
 * HMAC_SECRETS. A database written by an earlier version (key in the clear) is sealed at start,
 * and so is a key sealed with a secret that is no longer the newest; a server whose secrets cannot
 * open the key refuses to start and says why. Through all of it the same key keeps signing.
 */
describe('signing keys encrypted at rest (sqlite)', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let server: TestServer | undefined;

  before(async () => {
    database = await createTestDatabase('sqlite');
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  after(() => database?.drop());

  const start = async (env: Record<string, string> = {}) => (server = await startTestServer('sqlite', env, { database }));
  const storedJwk = async () => JSON.parse(String((await server!.sesame.db('signing_keys').first('jwk')).jwk)) as Record<string, unknown>;

  async function signIn(email: string): Promise<{ idToken: string; kid: string }> {
    const registered = await registerClient(server!.sesame, { isPublic: true, firstParty: true });
    const config = await discover(server!.issuer, registered);
    const authorization = await startAuthorization(config);
    const tokens = await exchangeCode(config, authorization, await signInWithLink(new Browser(server!.issuer), server!.smtp, authorization, email));
    await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(`${server!.issuer}/jwks`)), { issuer: server!.issuer, audience: registered.clientId });
    return { idToken: tokens.id_token!, kid: decodeProtectedHeader(tokens.id_token!).kid! };
  }

  it('a new key is stored sealed, and signs', async () => {
    await start();
    const stored = await storedJwk();
    expect(stored).to.have.keys('public', 'sealed');
    expect(stored.public).to.not.have.property('d');
    expect((await signIn('sealed@example.com')).kid).to.equal((stored.public as { kid: string }).kid);
  });

  it('a key left in the clear by an earlier version is sealed at start and keeps signing', async () => {
    await start();
    const [key] = await new KnexSigningKeyStore(server!.sesame.db, new SecretBox([TEST_SECRETS.HMAC_SECRETS], 'signing key encryption')).list();
    await server!.sesame.db('signing_keys').where({ kid: key.kid }).update({ jwk: JSON.stringify(key.jwk) });
    await server!.close();

    await start();
    const stored = await storedJwk();
    expect(stored).to.have.keys('public', 'sealed');
    expect(JSON.stringify(stored)).to.not.include(String(key.jwk.d));
    expect((await signIn('earlier@example.com')).kid).to.equal(key.kid);
  });

  it('after a new HMAC secret is put first the key is resealed, so the old secret can go; a server without the right secret refuses to start', async () => {
    await start();
    const { kid } = await signIn('before-rotation@example.com');
    const sealedBefore = (await storedJwk()).sealed;
    await server!.close();

    await start({ HMAC_SECRETS: `${NEW_SECRET},${TEST_SECRETS.HMAC_SECRETS}` });
    expect((await storedJwk()).sealed).to.not.equal(sealedBefore);
    await server!.close();

    await start({ HMAC_SECRETS: NEW_SECRET });
    expect((await signIn('after-rotation@example.com')).kid).to.equal(kid);
    await server!.close();
    server = undefined;

    let refused: unknown;
    await start({ HMAC_SECRETS: 'some-other-hmac-secret-0123456789abcdefghijk' }).catch((error: unknown) => (refused = error));
    expect(String(refused)).to.include(`signing key ${kid}`).and.to.include('HMAC_SECRETS');
  });

  it('during a rotation, instances on either list read the keys, and a key made with the old secret first is re-encrypted at the next refresh of one with the new first', async () => {
    const oldFirst = await startTestServer('sqlite', { HMAC_SECRETS: `${TEST_SECRETS.HMAC_SECRETS},${NEW_SECRET}` }, { database });
    const newFirst = await startTestServer('sqlite', { HMAC_SECRETS: `${NEW_SECRET},${TEST_SECRETS.HMAC_SECRETS}` }, { database });
    try {
      await oldFirst.sesame.refreshKeys();
      // rotated through the instance that still has the old secret first: sealed with the old one
      const rotated = await rotateSigningKey(oldFirst.sesame.keys, 0);
      await newFirst.sesame.refreshKeys();
      await oldFirst.close();
      await newFirst.close();
      // so the old secret can go: a server with only the new one starts and signs with that key
      await start({ HMAC_SECRETS: NEW_SECRET });
      expect((await signIn('rotation-window@example.com')).kid).to.equal(rotated.kid);
    } finally {
      await Promise.allSettled([oldFirst.close(), newFirst.close()]);
    }
  });
});
