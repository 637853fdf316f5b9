import { expect } from 'chai';
import { errors, type Adapter } from 'oidc-provider';
import { randomToken } from '../../src/shared/crypto.js';
import { KnexAccountStore } from '../../src/store/account-store.js';
import { createAdapterFactory, withRequestMemo } from '../../src/store/oidc-adapter.js';
import { storedId, testPayloadSecrets } from '../support/payload-secrets.js';
import { DB_KINDS } from '../support/databases.js';
import { openMigratedDatabase, type MigratedDatabase } from './migrated-database.js';

/**
 * The per-request memo of the adapter's reads (withRequestMemo, entered around every HTTP request):
 * a repeated read in one request comes from the first, a write of the model forgets it, nothing
 * outlives the request, and consume() is never answered from it. A token is read with its grant
 * and account in one statement, and look-ups of one id started together share one statement.
 */
for (const kind of DB_KINDS) {
  describe(`oidc-provider adapter: the per-request memo (${kind})`, function () {
    this.timeout(20_000);
    let migrated: MigratedDatabase;
    let adapterFor: (name: string) => Adapter;

    before(async () => {
      migrated = await openMigratedDatabase(kind);
      const none = async () => undefined;
      adapterFor = createAdapterFactory(migrated.db, { findProviderMetadata: none, saveProviderMetadata: none, removeClient: none }, testPayloadSecrets());
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

    /** A token of an account with a grant, as the token endpoint stores them. */
    const tokenWithGrantAndAccount = async () => {
      const accountId = randomToken(12);
      const grantId = randomToken(16);
      const tokenId = randomToken(16);
      const accounts = new KnexAccountStore(migrated.db);
      await accounts.insertIfAbsent({ id: accountId, email: `${accountId.toLowerCase()}@example.com`, emailVerified: true, status: 'active', createdAt: Date.now(), lastLoginAt: null });
      await adapterFor('Grant').upsert(grantId, { jti: grantId, accountId, clientId: 'app', scope: 'openid' }, 3600);
      await adapterFor('AccessToken').upsert(tokenId, { jti: tokenId, grantId, accountId, clientId: 'app' }, 3600);
      return { accounts, accountId, grantId, tokenId };
    };

    it('reads a token with its grant and account: the next reads of those in the request come from that one read', async () => {
      const { accounts, accountId, grantId, tokenId } = await tokenWithGrantAndAccount();
      await withRequestMemo(async () => {
        expect((await adapterFor('AccessToken').find(tokenId))?.grantId).to.equal(grantId);
        // changed behind the adapter's back after the token was read: the request keeps what it read with the token
        await changeElsewhere(grantId, 'openid email');
        await migrated.db('accounts').where({ id: accountId }).update({ status: 'disabled' });
        expect((await adapterFor('Grant').find(grantId))?.scope, 'the grant read with the token').to.equal('openid');
        expect((await accounts.findById(accountId))?.status, 'the account read with the token').to.equal('active');
      });
      await withRequestMemo(async () => {
        await adapterFor('AccessToken').find(tokenId);
        expect((await adapterFor('Grant').find(grantId))?.scope, 'next request').to.equal('openid email');
        expect((await accounts.findById(accountId))?.status, 'next request').to.equal('disabled');
      });
    });

    it('forgets an account read with a token when the request changes the account', async () => {
      const { accounts, accountId, tokenId } = await tokenWithGrantAndAccount();
      await withRequestMemo(async () => {
        await adapterFor('AccessToken').find(tokenId);
        expect(await accounts.setStatus(accountId, 'disabled', Date.now())).to.equal(true);
        expect((await accounts.findById(accountId))?.status).to.equal('disabled');
      });
    });

    it('answers look-ups of one value as several models, started together, each with its own model\'s row', async () => {
      const { grantId, tokenId } = await tokenWithGrantAndAccount();
      const refreshId = randomToken(16);
      await adapterFor('RefreshToken').upsert(refreshId, { jti: refreshId, grantId, kind: 'RefreshToken' }, 3600);
      for (const [value, found] of [[tokenId, 'AccessToken'], [refreshId, 'RefreshToken'], [randomToken(16), undefined]] as const) {
        await withRequestMemo(async () => {
          // as introspection does: the same value as each kind of token at once
          const [access, machine, refresh] = await Promise.all(['AccessToken', 'ClientCredentials', 'RefreshToken'].map((model) => adapterFor(model).find(value)));
          expect(access?.jti, 'AccessToken').to.equal(found === 'AccessToken' ? value : undefined);
          expect(machine, 'ClientCredentials').to.equal(undefined);
          expect(refresh?.jti, 'RefreshToken').to.equal(found === 'RefreshToken' ? value : undefined);
          // and what each look-up found (or not) stays the answer within the request
          await migrated.db('oidc_payloads').whereIn('id', ['AccessToken', 'RefreshToken'].map((model) => storedId(model, value))).delete();
          expect((await adapterFor('AccessToken').find(value))?.jti).to.equal(found === 'AccessToken' ? value : undefined);
          expect((await adapterFor('RefreshToken').find(value))?.jti).to.equal(found === 'RefreshToken' ? value : undefined);
        });
      }
    });
  });
}
