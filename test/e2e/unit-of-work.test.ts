import { expect } from 'chai';
import { Browser, findForm } from '../support/browser.js';
import { DB_KINDS } from '../support/databases.js';
import { client, discover, exchangeCode, REDIRECT_URI, registerClient, signInWithLink, startAuthorization, type AuthorizationStart, type RegisteredClient } from '../support/relying-party.js';
import { loginDetails } from '../support/smtp-sink.js';
import { armStatementFault, disarmStatementFault } from '../support/statement-faults.js';
import { withServer } from '../support/test-server.js';

/**
 * oidc-provider changes its state in several writes per request. Every position of those writes
 * is made to fail once (a statement that reaches oidc-provider's table, or begins or ends a
 * transaction, fails as if the database had restarted), and the same request is then sent again,
 * as an app or a browser does: it must succeed, as if the failed attempt had never happened.
 */
const WRITES = /oidc_payloads|^\s*(BEGIN|COMMIT|SAVEPOINT|RELEASE)\b/i;

interface Attempt {
  position: number;
  statement: string;
  failed: number;
  retried: number;
  detail?: string;
}

const summary = (attempts: Attempt[]) => attempts.map((a) => `#${a.position} ${a.statement}: ${a.failed} then ${a.retried}${a.detail ? ` (${a.detail})` : ''}`).join('\n');

for (const kind of DB_KINDS) {
  describe(`one unit of work per request (${kind})`, function () {
    this.timeout(120_000);
    let registered: RegisteredClient;
    let config: client.Configuration;

    const server = withServer(kind);
    before(async () => {
      registered = await registerClient(server.sesame, { isPublic: true, firstParty: true });
      config = await discover(server.issuer, registered);
    });
    after(async () => {
      disarmStatementFault();
    });

    const refresh = (refreshToken: string) => fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: registered.clientId }),
    });

    it('a refresh that fails at any of its statements spends nothing: the app\'s retry gets new tokens and the grant lives on', async () => {
      const start = await startAuthorization(config);
      const first = await exchangeCode(config, start, await signInWithLink(new Browser(server.issuer), server.smtp, start, `refresh-${kind}@example.com`));
      let refreshToken = first.refresh_token!;

      armStatementFault({ match: WRITES, failAt: 0 });
      const counted = await refresh(refreshToken);
      const { seen } = disarmStatementFault();
      expect(counted.status).to.equal(200);
      refreshToken = ((await counted.json()) as { refresh_token: string }).refresh_token;
      expect(seen.length, seen.join('\n')).to.be.at.least(3);

      const attempts: Attempt[] = [];
      let accessToken = '';
      for (let position = 1; position <= seen.length; position++) {
        armStatementFault({ match: WRITES, failAt: position });
        const failed = await refresh(refreshToken);
        await failed.arrayBuffer();
        disarmStatementFault();
        const retried = await refresh(refreshToken);
        const body = (await retried.json()) as { refresh_token?: string; access_token?: string; error?: string; error_description?: string };
        attempts.push({ position, statement: seen[position - 1].slice(0, 60), failed: failed.status, retried: retried.status, detail: body.error_description });
        if (retried.status === 200) {
          refreshToken = body.refresh_token!;
          accessToken = body.access_token!;
        }
      }
      expect(attempts.map((a) => a.failed >= 500 && a.retried === 200), summary(attempts)).to.deep.equal(attempts.map(() => true));
      // the grant was never taken for reuse and revoked: its newest tokens work
      const userinfo = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
      expect(userinfo.status).to.equal(200);
      expect((await refresh(refreshToken)).status).to.equal(200);
    });

    /** A sign-in up to the browser's redirect to /auth/:uid, where oidc-provider finishes it. */
    async function upToResume(n: number): Promise<{ browser: Browser; start: AuthorizationStart; resume: string }> {
      const email = `resume-${kind}-${n}@example.com`;
      const browser = new Browser(server.issuer);
      const start = await startAuthorization(config);
      const checkEmail = await browser.submit(await browser.get(start.url.toString()), /\/email$/, { email });
      expect(checkEmail.body).to.include('Check your email');
      const verify = await browser.get(loginDetails(await server.smtp.waitFor(email)).link);
      const form = findForm(verify.body, '/login/verify');
      const approved = await browser.send(new URL(form.action, verify.url).toString(), { form: form.fields });
      expect(approved.status).to.equal(303);
      const finished = await browser.send(new URL(approved.headers.get('location')!, server.issuer).toString());
      const resume = new URL(finished.headers.get('location')!, server.issuer);
      expect(resume.pathname).to.match(/^\/auth\/[\w-]+$/);
      return { browser, start, resume: resume.toString() };
    }

    it('a finish at /auth/:uid that fails at any of its statements leaves the sign-in open: the browser\'s retry gets its code', async () => {
      const counting = await upToResume(0);
      armStatementFault({ match: WRITES, failAt: 0 });
      const counted = await counting.browser.send(counting.resume);
      const { seen } = disarmStatementFault();
      expect(counted.headers.get('location')).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));
      expect(seen.length, seen.join('\n')).to.be.at.least(3);

      const attempts: Attempt[] = [];
      for (let position = 1; position <= seen.length; position++) {
        const { browser, start, resume } = await upToResume(position);
        armStatementFault({ match: WRITES, failAt: position });
        const failed = await browser.send(resume);
        await failed.arrayBuffer();
        disarmStatementFault();
        const retried = await browser.send(resume);
        const location = retried.headers.get('location') ?? '';
        let detail = location.startsWith(REDIRECT_URI) ? undefined : (await retried.text()).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 200);
        if (!detail) {
          const tokens = await exchangeCode(config, start, location).catch((error: Error) => error);
          detail = tokens instanceof Error ? `code: ${tokens.message}` : undefined;
        }
        attempts.push({ position, statement: seen[position - 1].slice(0, 60), failed: failed.status, retried: retried.status, detail });
      }
      expect(attempts.map((a) => a.failed >= 500 && a.retried === 303 && !a.detail), summary(attempts)).to.deep.equal(attempts.map(() => true));
    });
  });
}
