import { expect } from 'chai';
import type { ClientRecord } from '../../src/clients/client.js';
import { KnexClientStore } from '../../src/store/client-store.js';
import { DB_KINDS } from '../support/databases.js';
import { openMigratedDatabase, type MigratedDatabase } from './migrated-database.js';

function record(clientId: string, createdAt: number): ClientRecord {
  return {
    clientId,
    name: `App ${clientId}`,
    redirectUris: ['https://app.example/callback'],
    postLogoutRedirectUris: [],
    authMethod: 'none',
    firstParty: false,
    enabled: true,
    grantTypes: ['authorization_code'],
    scopes: ['openid'],
    tokenLifetimes: {},
    dpopBoundAccessTokens: false,
    pkceRequired: true,
    source: 'operator',
    createdAt,
    updatedAt: createdAt,
  };
}

for (const kind of DB_KINDS) {
  describe(`client store: pages in the order of registration (${kind})`, function () {
    this.timeout(30_000);
    let database: MigratedDatabase;
    let store: KnexClientStore;
    // registered out of order, several in the same millisecond (ids decide between those)
    const clients = [record('c-late', 3000), record('b-tie', 2000), record('a-first', 1000), record('d-tie', 2000), record('a-tie', 2000)];
    const order = ['a-first', 'a-tie', 'b-tie', 'd-tie', 'c-late'];

    before(async () => {
      database = await openMigratedDatabase(kind);
      store = new KnexClientStore(database.db);
      for (const client of clients) await store.insert(client);
    });
    after(() => database?.close());

    it('reads each page from where the last one ended, ties broken by client id', async () => {
      const seen: string[] = [];
      let after: ClientRecord | undefined;
      for (;;) {
        const page = await store.listAfter(after, 2);
        expect(page.length).to.be.at.most(2);
        if (page.length === 0) break;
        seen.push(...page.map((c) => c.clientId));
        after = page.at(-1);
      }
      expect(seen).to.deep.equal(order);
      expect((await store.listAfter(undefined, 10)).map((c) => c.clientId)).to.deep.equal(order);
    });

    it('starts after a position that is not a client any more (it was removed between pages)', async () => {
      expect((await store.listAfter({ createdAt: 2000, clientId: 'c-removed' }, 10)).map((c) => c.clientId)).to.deep.equal(['d-tie', 'c-late']);
      expect(await store.listAfter({ createdAt: 3000, clientId: 'c-late' }, 10)).to.deep.equal([]);
    });
  });
}
