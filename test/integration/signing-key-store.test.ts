import { expect } from 'chai';
import { generateSigningKey, SigningKeyUnreadable, type SigningKey } from '../../src/oidc/signing-keys.js';
import { SecretBox } from '../../src/shared/crypto.js';
import { KnexSigningKeyStore } from '../../src/store/signing-key-store.js';
import { DB_KINDS } from '../support/databases.js';
import { openMigratedDatabase, type MigratedDatabase } from './migrated-database.js';

const OLD = 'old-hmac-secret-0123456789abcdefghijklmnop';
const NEW = 'new-hmac-secret-0123456789abcdefghijklmnop';
const PURPOSE = 'signing key encryption';

for (const kind of DB_KINDS) {
  describe(`signing key store: private keys encrypted at rest (${kind})`, function () {
    this.timeout(30_000);
    let database: MigratedDatabase;
    const storeWith = (...secrets: string[]) => new KnexSigningKeyStore(database.db, new SecretBox(secrets, PURPOSE));
    const storedText = async (kid: string) => String((await database.db('signing_keys').where({ kid }).first('jwk')).jwk);

    beforeEach(async () => {
      database = await openMigratedDatabase(kind);
    });
    afterEach(() => database?.close());

    it('keeps no private member in the clear, and gives the whole key back', async () => {
      const key = await generateSigningKey();
      await storeWith(NEW).insert(key);
      const text = await storedText(key.kid);
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) {
        expect(JSON.parse(text).public, member).to.not.have.property(member);
        expect(text).to.not.include(String((key.jwk as Record<string, unknown>)[member]));
      }
      expect(JSON.parse(text).public.n).to.equal(key.jwk.n);
      const [listed] = await storeWith(NEW).list();
      expect(listed.jwk).to.deep.equal(key.jwk);
    });

    it('a sealed key moved to another row does not open there', async () => {
      const [a, b] = await Promise.all([generateSigningKey(1000), generateSigningKey(2000)]);
      await storeWith(NEW).insert(a);
      await storeWith(NEW).insert(b);
      await database.db('signing_keys').where({ kid: b.kid }).update({ jwk: await storedText(a.kid) });
      await expectUnreadable(storeWith(NEW).list(), b.kid);
    });

    it('opens keys sealed with an older secret, and reseals them with the newest', async () => {
      const key = await generateSigningKey();
      await storeWith(OLD).insert(key);
      const before = await storedText(key.kid);
      const rotated = storeWith(NEW, OLD);
      expect((await rotated.list())[0].jwk).to.deep.equal(key.jwk);
      const resealing = await rotated.sealOutdated();
      expect(resealing.resealed).to.equal(1);
      // the keys it read, whole, as list() gives them
      expect(resealing.keys).to.deep.equal(await rotated.list());
      expect(resealing.keys.map((k) => k.jwk)).to.deep.equal([key.jwk]);
      expect(await storedText(key.kid)).to.not.equal(before);
      expect((await rotated.sealOutdated()).resealed, 'nothing left to reseal').to.equal(0);
      // the old secret can now be dropped
      expect((await storeWith(NEW).list())[0].jwk).to.deep.equal(key.jwk);
    });

    it('seals a key written in the clear by an earlier version', async () => {
      const key: SigningKey = await generateSigningKey();
      await database.db('signing_keys').insert({ kid: key.kid, alg: key.alg, jwk: JSON.stringify(key.jwk), status: 'active', created_at: key.createdAt, activate_at: key.activateAt });
      const store = storeWith(NEW);
      expect((await store.list())[0].jwk).to.deep.equal(key.jwk);
      expect((await store.sealOutdated()).resealed).to.equal(1);
      expect(await storedText(key.kid)).to.not.include(String(key.jwk.d));
      expect((await store.list())[0].jwk).to.deep.equal(key.jwk);
    });

    it('refuses, naming the key and HMAC_SECRETS, when no configured secret sealed it', async () => {
      const key = await generateSigningKey();
      await storeWith(OLD).insert(key);
      await expectUnreadable(storeWith(NEW).list(), key.kid);
      await expectUnreadable(storeWith(NEW).sealOutdated(), key.kid);
    });
  });
}

async function expectUnreadable(promise: Promise<unknown>, kid: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(SigningKeyUnreadable);
    expect((error as Error).message).to.include(kid).and.to.include('HMAC_SECRETS');
    return;
  }
  expect.fail('expected SigningKeyUnreadable');
}
