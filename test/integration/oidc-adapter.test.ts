import { expect } from 'chai';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { randomToken } from '../../src/shared/crypto.js';
import type { Db } from '../../src/store/db.js';
import { createAdapterFactory, hashStoredIds } from '../../src/store/oidc-adapter.js';
import { finishUnitOfWork, withUnitOfWork } from '../../src/store/unit-of-work.js';
import { storedId, storedId as sid, testPayloadSecrets } from '../support/payload-secrets.js';
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
      }, testPayloadSecrets());
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
        expect(await rowCount(db, { type: model, id: sid(model, id) })).to.equal(1);
        const row = await db('oidc_payloads').where({ type: model, id: sid(model, id) }).first();
        expect(row.grant_id, 'grant id follows the newest payload').to.equal(null);

        await adapter.destroy(id);
        expect(await adapter.find(id)).to.equal(undefined);
        expect(await rowCount(db, { type: model, id: sid(model, id) })).to.equal(0);
      });
    }

    it('keeps the same id in different models apart', async () => {
      const id = randomToken();
      for (const model of MODELS) await adapterFor(model).upsert(id, payloadFor(model, id), 3600);
      for (const model of MODELS) expect((await adapterFor(model).find(id))?.kind).to.equal(model);

      await adapterFor('AccessToken').destroy(id);
      expect(await adapterFor('AccessToken').find(id)).to.equal(undefined);
      expect((await adapterFor('RefreshToken').find(id))?.kind).to.equal('RefreshToken');
      expect(await rowCount(db, { type: 'AccessToken', id: sid('AccessToken', id) })).to.equal(0);
      expect(await db('oidc_payloads').whereIn('id', [...new Set(MODELS.map((model) => sid(model, id)))]).count({ n: '*' }).first().then((r) => Number(r!.n))).to.equal(MODELS.length - 1);

      await adapterFor('AuthorizationCode').consume(id);
      expect((await adapterFor('AuthorizationCode').find(id))?.consumed).to.be.a('number');
      expect(await adapterFor('RefreshToken').find(id)).not.to.have.property('consumed');
    });

    describe('at rest', () => {
      const BEARER_MODELS = ['Session', 'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'ClientCredentials',
        'InitialAccessToken', 'RegistrationAccessToken', 'PushedAuthorizationRequest', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode'];

      it('stores a bearer model under a keyed hash of its id, with no copy of the id or user code anywhere in the row', async () => {
        for (const model of BEARER_MODELS) {
          const id = randomToken();
          await adapterFor(model).upsert(id, payloadFor(model, id, { uid: randomToken(16), userCode: 'WXYZ-2345' }), 3600);
          const rows: Record<string, unknown>[] = await db('oidc_payloads').where({ type: model });
          const text = JSON.stringify(rows);
          expect(text, model).to.not.include(id);
          expect(text, model).to.not.include('WXYZ-2345');
          expect(rows.some((row) => row.id === sid(model, id)), model).to.equal(true);
          expect((await adapterFor(model).find(id))?.jti, model).to.equal(id);
        }
      });

      it('keeps interaction, grant and replay ids as they are (they are not proofs), and no session cookie value in an interaction', async () => {
        const id = randomToken();
        const cookie = randomToken();
        const par = randomToken();
        await adapterFor('Interaction').upsert(id, payloadFor('Interaction', id, { session: { uid: 'u1', accountId: 'a1', cookie }, parJti: par }), 3600);
        const row = await db('oidc_payloads').where({ type: 'Interaction', id }).first();
        expect(row.payload).to.not.include(cookie);
        expect(row.payload).to.not.include(par);
        const found = await adapterFor('Interaction').find(id);
        expect(found?.session).to.deep.equal({ uid: 'u1', accountId: 'a1' });
        expect(found?.parJti, 'the PAR id is sealed, and opens on read').to.equal(par);
      });

      it('finds rows hashed with an older secret while HMAC_SECRETS is rotated, and moves a row saved again to the newest', async () => {
        const OLD = 'old-adapter-secret-0123456789abcdefghij';
        const NEW = 'new-adapter-secret-0123456789abcdefghij';
        const factory = (list: string[]) => createAdapterFactory(db, { findProviderMetadata: async () => undefined, saveProviderMetadata: async () => {}, removeClient: async () => {} }, testPayloadSecrets(list));
        const before = factory([OLD]);
        const during = factory([NEW, OLD]);
        const after = factory([NEW]);
        const session = randomToken();
        const code = randomToken();
        await before('Session').upsert(session, payloadFor('Session', session, { uid: randomToken(16) }), 3600);
        await before('AuthorizationCode').upsert(code, payloadFor('AuthorizationCode', code), 3600);

        expect((await during('Session').find(session))?.jti).to.equal(session);
        await during('AuthorizationCode').consume(code);
        expect((await during('AuthorizationCode').find(code))?.consumed).to.be.a('number');

        await during('Session').upsert(session, payloadFor('Session', session, { uid: 'again' }), 3600);
        expect(await rowCount(db, { type: 'Session', id: storedId('Session', session, testPayloadSecrets([OLD])) })).to.equal(0);
        expect((await after('Session').find(session))?.uid).to.equal('again');
        expect(await after('AuthorizationCode').find(code), 'a row never saved again is gone with the old secret').to.equal(undefined);
      });

      it('converts rows an earlier version stored under the plain id, once', async () => {
        const token = randomToken();
        const session = randomToken();
        const interaction = randomToken();
        const cookie = randomToken();
        const plainRow = (type: string, id: string, payload: AdapterPayload, extra = {}) =>
          ({ type, id, payload: JSON.stringify(payload), expires_at: Date.now() + 3600_000, ...extra });
        await db('oidc_payloads').insert([
          plainRow('RefreshToken', token, payloadFor('RefreshToken', token), { grant_id: 'g-convert' }),
          plainRow('Session', session, payloadFor('Session', session, { uid: 'u-convert' }), { uid: 'u-convert' }),
          plainRow('Interaction', interaction, payloadFor('Interaction', interaction, { session: { uid: 'u-convert', accountId: 'a', cookie } })),
        ]);

        expect(await hashStoredIds(db, testPayloadSecrets())).to.be.at.least(3);
        expect(await hashStoredIds(db, testPayloadSecrets()), 'nothing left to convert').to.equal(0);

        const text = JSON.stringify(await db('oidc_payloads').whereIn('type', ['RefreshToken', 'Session', 'Interaction']));
        for (const value of [token, session, cookie]) expect(text).to.not.include(value);
        expect((await adapterFor('RefreshToken').find(token))?.jti).to.equal(token);
        expect((await adapterFor('Session').find(session))?.uid).to.equal('u-convert');
        expect((await adapterFor('Session').findByUid('u-convert'))?.accountId).to.be.a('string');
        await adapterFor('RefreshToken').revokeByGrantId('g-convert');
        expect(await adapterFor('RefreshToken').find(token)).to.equal(undefined);
      });
    });

    it('finds a Session by uid', async () => {
      const id = randomToken();
      const uid = randomToken(16);
      const session = payloadFor('Session', id, { uid, loginTs: 1_700_000_000 });
      await adapterFor('Session').upsert(id, session, 3600);
      // found by uid, a session cannot know its id: only a look-up by the id itself restores it
      const { jti: _jti, ...withoutId } = session;
      expect(await adapterFor('Session').findByUid(uid)).to.deep.equal(withoutId);
      expect(await adapterFor('Session').findByUid(randomToken(16))).to.equal(undefined);
      // the uid belongs to the Session model only
      expect(await adapterFor('Interaction').findByUid(uid)).to.equal(undefined);
    });

    it('finds a DeviceCode by user code', async () => {
      const id = randomToken();
      const userCode = 'BCDF-GHJK';
      const device = payloadFor('DeviceCode', id, { userCode, deviceInfo: { ip: '203.0.113.7' } });
      await adapterFor('DeviceCode').upsert(id, device, 600);
      const { jti: _jti, ...withoutId } = device;
      expect(await adapterFor('DeviceCode').findByUserCode(userCode)).to.deep.equal(withoutId);
      expect(await adapterFor('DeviceCode').findByUserCode('XXXX-XXXX')).to.equal(undefined);
      expect(await adapterFor('BackchannelAuthenticationRequest').findByUserCode(userCode)).to.equal(undefined);
    });

    it('revokeByGrantId removes every artefact of the grant, across models, and nothing else', async () => {
      const grantId = randomToken();
      const otherGrant = randomToken();
      const grantModels = ['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode'];
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
      // an interaction that would extend the grant carries its id: revoking the grant (signing the
      // previous account out on the way to another) must not take the sign-in under way with it
      const interaction = randomToken();
      await adapterFor('Interaction').upsert(interaction, payloadFor('Interaction', interaction, { grantId }), 3600);
      kept.push(['Interaction', interaction]);

      await adapterFor('RefreshToken').revokeByGrantId(grantId);

      for (const [model, id] of revoked) expect(await adapterFor(model).find(id), `${model} of the revoked grant`).to.equal(undefined);
      for (const [model, id] of kept) expect(await adapterFor(model).find(id), `${model} kept`).to.not.equal(undefined);
      expect(await rowCount(db, { grant_id: grantId })).to.equal(1);
      expect(await rowCount(db, { grant_id: otherGrant })).to.equal(grantModels.length);
    });

    it('revoking a grant within the unit of work of a request keeps the interaction that carries its id, and stores the same at the end', async () => {
      const grantId = randomToken();
      const interaction = randomToken();
      const token = randomToken();
      await adapterFor('Interaction').upsert(interaction, payloadFor('Interaction', interaction, { grantId }), 3600);
      await adapterFor('AccessToken').upsert(token, payloadFor('AccessToken', token, { grantId }), 3600);
      await withUnitOfWork(async () => {
        await adapterFor('AccessToken').revokeByGrantId(grantId);
        expect(await adapterFor('AccessToken').find(token), 'the token, read back in the request').to.equal(undefined);
        expect(await adapterFor('Interaction').find(interaction), 'the interaction, read back in the request').to.not.equal(undefined);
        await finishUnitOfWork(true);
      });
      expect(await adapterFor('AccessToken').find(token)).to.equal(undefined);
      expect(await adapterFor('Interaction').find(interaction)).to.not.equal(undefined);
    });

    it('does not return an expired row', async () => {
      const adapter = adapterFor('AccessToken');
      const id = randomToken();
      const uid = randomToken(16);
      await adapter.upsert(id, payloadFor('AccessToken', id), 3600);
      await adapterFor('Session').upsert(id, payloadFor('Session', id, { uid }), 3600);
      await adapterFor('DeviceCode').upsert(id, payloadFor('DeviceCode', id, { userCode: 'EXPI-RED1' }), 3600);
      expect(await adapter.find(id)).to.not.equal(undefined);

      await db('oidc_payloads').whereIn('id', [sid('AccessToken', id), sid('Session', id), sid('DeviceCode', id)]).update({ expires_at: Date.now() - 1000 });
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
        const at = (id: string) => ({ id: sid('AccessToken', id) });
        await db('oidc_payloads').where(at(ids.expired)).update({ expires_at: now - 60_000 });
        await db('oidc_payloads').where(at(ids.dueNow)).update({ expires_at: now });
        await db('oidc_payloads').where(at(ids.live)).update({ expires_at: now + 60_000 });
        const expiredElsewhere = await db('oidc_payloads').where('expires_at', '<=', now).count({ n: '*' }).first();

        const deleted = await sweepExpired(db, now);

        expect(deleted.oidc_payloads).to.equal(Number(expiredElsewhere!.n));
        expect(deleted.oidc_payloads).to.be.at.least(2);
        expect(await rowCount(db, at(ids.expired))).to.equal(0);
        expect(await rowCount(db, at(ids.dueNow))).to.equal(0);
        expect(await rowCount(db, at(ids.live))).to.equal(1);
        expect(await rowCount(db, at(ids.forever))).to.equal(1);
        const left = await db('oidc_payloads').where('expires_at', '<=', now).count({ n: '*' }).first();
        expect(Number(left!.n)).to.equal(0);
      });
    });
  });
}
