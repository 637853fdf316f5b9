import { expect } from 'chai';
import { AccountService } from '../../src/accounts/account-service.js';
import { LoginService, type LoginRequestInput } from '../../src/login/login-service.js';
import type { LoginMailDetails } from '../../src/mail/login-mail.js';
import { KeyedHasher, randomToken } from '../../src/shared/crypto.js';
import { AppError } from '../../src/shared/errors.js';
import { KnexAccountStore } from '../../src/store/account-store.js';
import { KnexLoginRequestStore } from '../../src/store/login-request-store.js';
import { KnexRateLimitStore } from '../../src/store/rate-limit-store.js';
import { testMailBox } from '../support/payload-secrets.js';
import { DB_KINDS } from '../support/databases.js';
import { openMigratedDatabase, type MigratedDatabase } from './migrated-database.js';

for (const kind of DB_KINDS) {
  describe(`login service on real stores (${kind})`, () => {
    let store: MigratedDatabase;
    let accounts: AccountService;
    let login: LoginService;
    const mails: LoginMailDetails[] = [];

    before(async () => {
      store = await openMigratedDatabase(kind);
      accounts = new AccountService(new KnexAccountStore(store.db), { policy: 'invite', domains: [] });
      login = new LoginService(
        new KnexLoginRequestStore(store.db, testMailBox()),
        accounts,
        new KeyedHasher(['a-test-secret-that-is-long-enough-000000']),
        (details) => {
          mails.push(details);
          return { to: details.to, subject: 's', text: details.link, html: details.link };
        },
        new KnexRateLimitStore(store.db),
        { issuer: 'https://id.example.com', ttlSeconds: 600, codeMaxAttempts: 5, matchMaxAttempts: 3, rateLimits: { emailIntervalSeconds: 0, ipv6PrefixBits: 64 } },
      );
    });
    after(() => store?.close());

    const ask = (email: string, interactionUid = randomToken(8)): LoginRequestInput => ({
      interactionUid,
      interactionExpiresAt: Date.now() + 3_600_000,
      clientId: 'app',
      clientName: 'App',
      email,
      ip: '192.0.2.1',
      bindingSecret: 'binding',
    });
    const tokenOf = (details: LoginMailDetails) => new URL(details.link).searchParams.get('t')!;

    it('a completed login kills every other pending request of the address', async () => {
      await accounts.create('kill@example.com');
      const first = await login.request(ask('kill@example.com', 'tab-1'));
      const { request } = await login.approveLink(tokenOf(mails.at(-1)!), { bindingSecret: 'binding' }, '192.0.2.1');
      expect(request.id).to.equal(first.request.id);
      // asked again elsewhere while the first is approved but not yet finished
      const second = await login.request(ask('kill@example.com', 'tab-2'));
      const secondToken = tokenOf(mails.at(-1)!);
      expect(await login.status('tab-2')).to.equal('pending');
      const done = await login.complete('tab-1');
      expect(done?.account.email).to.equal('kill@example.com');
      expect(await login.status('tab-2')).to.equal('superseded');
      try {
        await login.approveLink(secondToken, { bindingSecret: 'binding' }, '192.0.2.1');
        expect.fail('the second link still worked');
      } catch (error) {
        expect((error as AppError).code).to.equal('link_superseded');
      }
      expect(second.request.id).not.to.equal(first.request.id);
    });

    it('finishes an approved request exactly once, however many tabs try', async () => {
      await accounts.create('once@example.com');
      const asked = await login.request(ask('once@example.com', 'tab-once'));
      // approved from another device, with the number the tab shows
      expect((await login.approveLink(tokenOf(mails.at(-1)!), { number: String(asked.request.matchNumber) }, '192.0.2.1')).matched).to.equal(true);
      const results = await Promise.all(Array.from({ length: 10 }, () => login.complete('tab-once')));
      expect(results.filter(Boolean)).to.have.length(1);
      expect(await login.status('tab-once')).to.equal('completed');
    });

    it('composes the mail for a refused address too, and queues it alike but withheld, to the stored address only', async () => {
      await accounts.create('  Stored@Example.COM ');
      mails.length = 0;
      await login.request(ask('stored@example.com'));
      await login.request(ask('stranger@example.com'));
      expect(mails.map((m) => m.to)).to.deep.equal(['stored@example.com', 'stranger@example.com']);
      const rows = await store.db('mail_outbox').whereIn('recipient', ['stored@example.com', 'stranger@example.com']).orderBy('id');
      // both wait for the worker alike; it sends one and withholds the other
      expect(rows.map((r) => [r.recipient, r.status, Boolean(r.withheld), typeof r.text_body])).to.deep.equal([
        ['stored@example.com', 'pending', false, 'string'],
        ['stranger@example.com', 'pending', true, 'string'],
      ]);
    });

    it('refuses an invalid address before anything is stored or counted', async () => {
      const before = await store.db('rate_events').count({ n: '*' }).first();
      for (const email of ['a@b', 'x@example.com\r\nBcc: y@example.com', ['a@example.com']]) {
        try {
          await login.request(ask(email as string));
          expect.fail(`accepted ${String(email)}`);
        } catch (error) {
          expect((error as AppError).code).to.equal('invalid_email');
        }
      }
      expect(await store.db('rate_events').count({ n: '*' }).first()).to.deep.equal(before);
    });
  });
}
