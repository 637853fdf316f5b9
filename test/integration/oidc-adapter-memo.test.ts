import { expect } from 'chai';
import { errors, type Adapter } from 'oidc-provider';
import { randomToken } from '../../src/shared/crypto.js';
import { createAdapterFactory, withRequestMemo } from '../../src/store/oidc-adapter.js';
import { DB_KINDS } from '../support/databases.js';
import { openMigratedDatabase, type MigratedDatabase } from './migrated-database.js';

/**
 * The per-request memo of the adapter's reads (withRequestMemo, entered around every HTTP request):
 * a repeated read in one request comes from the first, a write of the model forgets it, nothing
 * outlives the request, and consume() is never answered from it.
 */
for (const kind of DB_KINDS) {
  describe(`oidc-provider adapter: the per-request memo (${kind})`, function () {
    this.timeout(20_000);
    let migrated: MigratedDatabase;
    let adapterFor: (name: string) => Adapter;

    before(async () => {
      migrated = await openMigratedDatabase(kind);
      const none = async () => undefined;
      adapterFor = createAdapterFactory(migrated.db, { findProviderMetadata: none, saveProviderMetadata: none, removeClient: none });
    });
    after(async () => {
      await migrated?.close();
    });

    /** Changes the stored payload behind the adapter's back, as another request or instance would. */
    const changeElsewhere = (id: string, scope: string) =>
      migrated.db('oidc_payloads').where({ type: 'Grant', id }).update({ payload: JSON.stringify({ jti: id, scope }) });

    it('answers a repeated read within one request from the first, and reads the database again in the next request', async () => {
      const grants = adapterFor('Grant');
      const id = randomToken(16);
      await grants.upsert(id, { jti: id, scope: 'openid' }, 3600);
      await withRequestMemo(async () => {
        expect((await grants.find(id))?.scope).to.equal('openid');
        await changeElsewhere(id, 'openid email');
        expect((await grants.find(id))?.scope, 'same request: the first read').to.equal('openid');
      });
      await withRequestMemo(async () => {
        expect((await grants.find(id))?.scope, 'next request: the database').to.equal('openid email');
      });
      expect((await grants.find(id))?.scope, 'outside any request: the database').to.equal('openid email');
    });

    it('forgets a model\'s reads when the request writes that model (upsert, destroy, revokeByGrantId)', async () => {
      const grants = adapterFor('Grant');
      const tokens = adapterFor('AccessToken');
      const id = randomToken(16);
      const tokenId = randomToken(16);
      await withRequestMemo(async () => {
        expect(await grants.find(id)).to.equal(undefined);
        await grants.upsert(id, { jti: id, scope: 'openid' }, 3600);
        expect((await grants.find(id))?.scope).to.equal('openid');
        await grants.upsert(id, { jti: id, scope: 'openid profile' }, 3600);
        expect((await grants.find(id))?.scope).to.equal('openid profile');
        await tokens.upsert(tokenId, { jti: tokenId, grantId: id }, 3600);
        expect(await tokens.find(tokenId)).to.not.equal(undefined);
        await grants.revokeByGrantId(id);
        expect(await tokens.find(tokenId), 'revoked by grant').to.equal(undefined);
        expect(await grants.find(id)).to.not.equal(undefined);
        await grants.destroy(id);
        expect(await grants.find(id)).to.equal(undefined);
      });
    });

    it('never answers consume from it: a code read earlier in the request is still spent once, and then shows as consumed', async () => {
      const codes = adapterFor('AuthorizationCode');
      const id = randomToken(16);
      await codes.upsert(id, { jti: id, grantId: 'g' }, 60);
      await withRequestMemo(async () => {
        expect((await codes.find(id))?.consumed).to.equal(undefined);
        // spent by another request meanwhile
        await withRequestMemo(() => codes.consume(id));
        let refused: unknown;
        await codes.consume(id).catch((error: unknown) => (refused = error));
        expect(refused).to.be.instanceOf(errors.InvalidGrant);
        expect((await codes.find(id))?.consumed, 'after this request\'s own consume attempt').to.be.a('number');
      });
    });
  });
}
