import { expect } from 'chai';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { randomToken } from '../../src/shared/crypto.js';
import type { Db } from '../../src/store/db.js';
import { createAdapterFactory } from '../../src/store/oidc-adapter.js';
import { sweepExpired } from '../../src/store/sweeper.js';
import { DB_KINDS } from '../support/databases.js';
import { openMigratedDatabase, type MigratedDatabase } from './migrated-database.js';

const MODELS = [
  'Session',
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'ClientCredentials',
  'InitialAccessToken',
  'RegistrationAccessToken',
  'Interaction',
  'ReplayDetection',
  'PushedAuthorizationRequest',
  'Grant',
  'BackchannelAuthenticationRequest',
];

const payloadFor = (model: string, id: string, extra: AdapterPayload = {}): AdapterPayload => ({
  jti: id,
  kind: model,
  accountId: `account-${id.slice(0, 6)}`,
  clientId: 'client-1',
  scope: 'openid email',
  iat: 1_700_000_000,
  extra: { nested: { list: [1, 'two', null, true] }, unicode: 'Zoë ✓' },
  ...extra,
});

async function rowCount(db: Db, where: Record<string, string>): Promise<number> {
  const row = await db('oidc_payloads').where(where).count({ n: '*' }).first();
  return Number(row!.n);
}

async function expectInvalidGrantOnly(results: PromiseSettledResult<unknown>[]): Promise<void> {
  const fulfilled = results.filter((r) => r.status === 'fulfilled');
  const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  expect(fulfilled, 'exactly one consume wins').to.have.length(1);
  expect(rejected).to.have.length(results.length - 1);
  for (const { reason } of rejected) expect(reason).to.be.instanceOf(errors.InvalidGrant);
}

for (const kind of DB_KINDS) {
  describe(`oidc-provider adapter (${kind})`, function () {
    let store: MigratedDatabase;
    let db: Db;
    let adapterFor: (name: string) => Adapter;
    const clientLookups: string[] = [];
    const knownClient: AdapterPayload = { client_id: 'known-client', redirect_uris: ['https://app.example.com/cb'], token_endpoint_auth_method: 'none' };

    before(async () => {
      store = await openMigratedDatabase(kind);
      db = store.db;
      adapterFor = createAdapterFactory(db, {
        findProviderMetadata: async (id) => {
          clientLookups.push(id);
          return id === knownClient.client_id ? knownClient : undefined;
        },
        saveProviderMetadata: async () => {
          throw new Error('not used here');
        },
        removeClient: async () => {
          throw new Error('not used here');
        },
      });
    });
    after(async () => {
      await store?.close();
    });

    for (const model of MODELS) {
      it(`${model}: upsert then find returns the payload, a second upsert replaces it, destroy removes it`, async () => {
        const adapter = adapterFor(model);
        const id = randomToken();
        expect(await adapter.find(id)).to.equal(undefined);

        const first = payloadFor(model, id, { grantId: randomToken() });
        await adapter.upsert(id, first, 3600);
        expect(await adapter.find(id)).to.deep.equal(first);
        // a fresh adapter for the model reads the same row: nothing is cached in memory
        expect(await adapterFor(model).find(id)).to.deep.equal(first);

        const second = payloadFor(model, id, { scope: 'openid', accountId: 'someone-else' });
        await adapter.upsert(id, second, 3600);
        expect(await adapter.find(id)).to.deep.equal(second);
        expect(await rowCount(db, { type: model, id })).to.equal(1);
        const row = await db('oidc_payloads').where({ type: model, id }).first();
        expect(row.grant_id, 'grant id follows the newest payload').to.equal(null);

        await adapter.destroy(id);
        expect(await adapter.find(id)).to.equal(undefined);
        expect(await rowCount(db, { type: model, id })).to.equal(0);
      });
    }

    it('keeps the same id in different models apart', async () => {
      const id = randomToken();
      for (const model of MODELS) await adapterFor(model).upsert(id, payloadFor(model, id), 3600);
      for (const model of MODELS) expect((await adapterFor(model).find(id))?.kind).to.equal(model);

      await adapterFor('AccessToken').destroy(id);
      expect(await adapterFor('AccessToken').find(id)).to.equal(undefined);
      expect((await adapterFor('RefreshToken').find(id))?.kind).to.equal('RefreshToken');
      expect(await rowCount(db, { id })).to.equal(MODELS.length - 1);

      await adapterFor('AuthorizationCode').consume(id);
      expect((await adapterFor('AuthorizationCode').find(id))?.consumed).to.be.a('number');
      expect(await adapterFor('RefreshToken').find(id)).not.to.have.property('consumed');
    });

    it('finds a Session by uid', async () => {
      const id = randomToken();
      const uid = randomToken(16);
      const session = payloadFor('Session', id, { uid, loginTs: 1_700_000_000 });
      await adapterFor('Session').upsert(id, session, 3600);
      expect(await adapterFor('Session').findByUid(uid)).to.deep.equal(session);
      expect(await adapterFor('Session').findByUid(randomToken(16))).to.equal(undefined);
      // the uid belongs to the Session model only
      expect(await adapterFor('Interaction').findByUid(uid)).to.equal(undefined);
    });

    it('finds a DeviceCode by user code', async () => {
      const id = randomToken();
      const userCode = 'BCDF-GHJK';
      const device = payloadFor('DeviceCode', id, { userCode, deviceInfo: { ip: '203.0.113.7' } });
      await adapterFor('DeviceCode').upsert(id, device, 600);
      expect(await adapterFor('DeviceCode').findByUserCode(userCode)).to.deep.equal(device);
      expect(await adapterFor('DeviceCode').findByUserCode('XXXX-XXXX')).to.equal(undefined);
      expect(await adapterFor('BackchannelAuthenticationRequest').findByUserCode(userCode)).to.equal(undefined);
    });

    it('revokeByGrantId removes every artefact of the grant, across models, and nothing else', async () => {
      const grantId = randomToken();
      const otherGrant = randomToken();
      const grantModels = ['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'ClientCredentials'];
      const revoked: [string, string][] = [];
      const kept: [string, string][] = [];
      for (const model of grantModels) {
        const a = randomToken();
        const b = randomToken();
        await adapterFor(model).upsert(a, payloadFor(model, a, { grantId }), 3600);
        await adapterFor(model).upsert(b, payloadFor(model, b, { grantId: otherGrant }), 3600);
        revoked.push([model, a]);
        kept.push([model, b]);
      }
      const session = randomToken();
      await adapterFor('Session').upsert(session, payloadFor('Session', session, { uid: randomToken(16) }), 3600);
      kept.push(['Session', session]);

      await adapterFor('RefreshToken').revokeByGrantId(grantId);

      for (const [model, id] of revoked) expect(await adapterFor(model).find(id), `${model} of the revoked grant`).to.equal(undefined);
      for (const [model, id] of kept) expect(await adapterFor(model).find(id), `${model} kept`).to.not.equal(undefined);
      expect(await rowCount(db, { grant_id: grantId })).to.equal(0);
      expect(await rowCount(db, { grant_id: otherGrant })).to.equal(grantModels.length);
    });

    it('does not return an expired row', async () => {
      const adapter = adapterFor('AccessToken');
      const id = randomToken();
      const uid = randomToken(16);
      await adapter.upsert(id, payloadFor('AccessToken', id), 3600);
      await adapterFor('Session').upsert(id, payloadFor('Session', id, { uid }), 3600);
      await adapterFor('DeviceCode').upsert(id, payloadFor('DeviceCode', id, { userCode: 'EXPI-RED1' }), 3600);
      expect(await adapter.find(id)).to.not.equal(undefined);

      await db('oidc_payloads').where({ id }).update({ expires_at: Date.now() - 1000 });
      expect(await adapter.find(id)).to.equal(undefined);
      expect(await adapterFor('Session').findByUid(uid)).to.equal(undefined);
      expect(await adapterFor('DeviceCode').findByUserCode('EXPI-RED1')).to.equal(undefined);

      // a new upsert gives the row a new lifetime
      await adapter.upsert(id, payloadFor('AccessToken', id), 3600);
      expect(await adapter.find(id)).to.not.equal(undefined);
    });

    it('lets a row with a short expiresIn lapse on its own', async function () {
      this.timeout(10_000);
      const adapter = adapterFor('Interaction');
      const id = randomToken();
      const before = Date.now();
      await adapter.upsert(id, payloadFor('Interaction', id), 1);
      const row = await db('oidc_payloads').where({ type: 'Interaction', id }).first();
      expect(Number(row.expires_at)).to.be.within(before + 1000, Date.now() + 1000);
      expect(await adapter.find(id)).to.not.equal(undefined);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect(await adapter.find(id)).to.equal(undefined);
    });

    it('never expires a payload stored without expiresIn', async () => {
      const adapter = adapterFor('Grant');
      const id = randomToken();
      const grant = payloadFor('Grant', id);
      await adapter.upsert(id, grant);
      const row = await db('oidc_payloads').where({ type: 'Grant', id }).first();
      expect(row.expires_at).to.equal(null);
      await sweepExpired(db, Date.now() + 100 * 365 * 24 * 3600 * 1000);
      expect(await adapter.find(id)).to.deep.equal(grant);
    });

    it('consume marks the payload consumed, in seconds, on the next find', async () => {
      const adapter = adapterFor('AuthorizationCode');
      const id = randomToken();
      await adapter.upsert(id, payloadFor('AuthorizationCode', id), 60);
      expect(await adapter.find(id)).not.to.have.property('consumed');
      const before = Math.floor(Date.now() / 1000);
      await adapter.consume(id);
      const after = Math.floor(Date.now() / 1000);
      const found = await adapter.find(id);
      expect(found?.consumed).to.be.a('number');
      expect(Number.isInteger(found?.consumed)).to.equal(true);
      expect(found?.consumed).to.be.within(before, after);
      expect(found?.jti).to.equal(id);
    });

    for (const model of ['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']) {
      it(`${model}: of 20 parallel consumes exactly one succeeds, the rest get InvalidGrant`, async () => {
        const adapter = adapterFor(model);
        const id = randomToken();
        await adapter.upsert(id, payloadFor(model, id, { grantId: randomToken() }), 600);
        const results = await Promise.allSettled(Array.from({ length: 20 }, () => adapter.consume(id)));
        await expectInvalidGrantOnly(results);
        expect((await adapter.find(id))?.consumed).to.be.a('number');
        // and later attempts stay refused
        let late: unknown;
        await adapter.consume(id).catch((error: unknown) => {
          late = error;
        });
        expect(late).to.be.instanceOf(errors.InvalidGrant);
      });
    }

    it('the Client model reads the client source and cannot be written', async () => {
      const adapter = adapterFor('Client');
      clientLookups.length = 0;
      expect(await adapter.find('known-client')).to.deep.equal(knownClient);
      expect(await adapter.find('unknown-client')).to.equal(undefined);
      expect(clientLookups).to.deep.equal(['known-client', 'unknown-client']);

      let upsertError: unknown;
      await adapter.upsert('known-client', { client_id: 'known-client' }, 60).catch((error: unknown) => {
        upsertError = error;
      });
      expect(upsertError).to.be.instanceOf(Error);
      let destroyError: unknown;
      await adapter.destroy('known-client').catch((error: unknown) => {
        destroyError = error;
      });
      expect(destroyError).to.be.instanceOf(Error);
      expect(await rowCount(db, { type: 'Client' }), 'nothing written to the payload table').to.equal(0);
      expect(await adapter.find('known-client')).to.deep.equal(knownClient);
    });

    describe('sweepExpired', () => {
      it('deletes expired payload rows and keeps live and non-expiring ones', async () => {
        const now = Date.now();
        const ids = { expired: randomToken(), dueNow: randomToken(), live: randomToken(), forever: randomToken() };
        const adapter = adapterFor('AccessToken');
        for (const id of Object.values(ids)) await adapter.upsert(id, payloadFor('AccessToken', id), 3600);
        await adapter.upsert(ids.forever, payloadFor('AccessToken', ids.forever));
        await db('oidc_payloads').where({ id: ids.expired }).update({ expires_at: now - 60_000 });
        await db('oidc_payloads').where({ id: ids.dueNow }).update({ expires_at: now });
        await db('oidc_payloads').where({ id: ids.live }).update({ expires_at: now + 60_000 });
        const expiredElsewhere = await db('oidc_payloads').where('expires_at', '<=', now).count({ n: '*' }).first();

        const deleted = await sweepExpired(db, now);

        expect(deleted.oidc_payloads).to.equal(Number(expiredElsewhere!.n));
        expect(deleted.oidc_payloads).to.be.at.least(2);
        expect(await rowCount(db, { id: ids.expired })).to.equal(0);
        expect(await rowCount(db, { id: ids.dueNow })).to.equal(0);
        expect(await rowCount(db, { id: ids.live })).to.equal(1);
        expect(await rowCount(db, { id: ids.forever })).to.equal(1);
        const left = await db('oidc_payloads').where('expires_at', '<=', now).count({ n: '*' }).first();
        expect(Number(left!.n)).to.equal(0);
      });
    });
  });
}
