import { expect } from 'chai';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/shared/logger.js';
import { Browser, findForm } from '../support/browser.js';
import { discover, REDIRECT_URI, registerClient, startAuthorization } from '../support/relying-party.js';
import { loginDetails } from '../support/smtp-sink.js';
import { startTestServer } from '../support/test-server.js';

describe('logs', function () {
  this.timeout(60_000);

  it('every line of a request carries the request id echoed in X-Request-Id; no line holds an email address, a token or a code', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _encoding, done) { lines.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
    const server = await startTestServer('sqlite', {}, { logger: createLogger('info', sink) });
    try {
      const registered = await registerClient(server.sesame, { isPublic: true, firstParty: true });
      const config = await discover(server.issuer, registered);
      const browser = new Browser(server.issuer);
      const email = 'logged.person@example.com';
      const hops: { path: string; requestId: string; lines: Record<string, unknown>[] }[] = [];

      /** One request, its response's X-Request-Id, and the log lines written while it ran. */
      const step = async (send: () => Promise<Response>) => {
        const before = lines.length;
        const res = await send();
        const body = await res.text();
        const requestId = res.headers.get('x-request-id');
        expect(requestId, `X-Request-Id on ${res.url}`).to.match(/^[A-Za-z0-9._-]{8,64}$/);
        hops.push({ path: new URL(res.url).pathname, requestId: requestId!, lines: lines.slice(before).map((l) => JSON.parse(l)) });
        return { res, body, location: res.headers.get('location') };
      };
      /** Follows redirects on the server, one logged step per hop, like a browser. */
      const navigate = async (url: string, form?: Record<string, string>) => {
        let current = url;
        let next = await step(() => browser.send(current, form ? { form } : {}));
        for (let hop = 0; next.location && hop < 10; hop++) {
          const target = new URL(next.location, current);
          if (target.origin !== server.issuer) return { url: current, body: next.body, location: target.toString() };
          current = target.toString();
          next = await step(() => browser.send(current));
        }
        return { url: current, body: next.body, location: undefined };
      };

      const start = await startAuthorization(config);
      const formPage = await navigate(start.url.toString());
      const form = findForm(formPage.body, /\/email$/);
      const checkEmail = await navigate(new URL(form.action, formPage.url).toString(), { ...form.fields, email });
      expect(checkEmail.body).to.include('Check your email');
      const { link, code } = loginDetails(await server.smtp.waitFor(email));
      const verify = await navigate(link);
      const verifyForm = findForm(verify.body, '/login/verify');
      const done = await navigate(new URL(verifyForm.action, verify.url).toString(), verifyForm.fields);
      expect(done.location).to.match(new RegExp(`^${REDIRECT_URI}\\?code=`));
      const authorizationCode = new URL(done.location!).searchParams.get('code')!;
      const token = await step(() => fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'x-request-id': 'caller-chosen-id-0001' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: authorizationCode, redirect_uri: REDIRECT_URI, code_verifier: start.verifier, client_id: registered.clientId }),
      }));
      const tokens = JSON.parse(token.body) as Record<string, string>;
      expect(tokens.access_token).to.be.a('string');
      expect(hops[hops.length - 1].requestId, 'a valid incoming request id is kept').to.equal('caller-chosen-id-0001');

      expect(hops.length).to.be.at.least(8);
      expect(new Set(hops.map((h) => h.requestId)).size, 'one id per request').to.equal(hops.length);
      for (const hop of hops) {
        // the outbox worker logs on its own schedule, outside any request
        const own = hop.lines.filter((line) => line.outboxId === undefined);
        expect(own.length, `log lines of ${hop.path}`).to.be.at.least(1);
        for (const line of own) expect(line.requestId, `${hop.path}: ${JSON.stringify(line)}`).to.equal(hop.requestId);
        expect(own.some((line) => line.msg === 'request' && line.path === hop.path), `the access line of ${hop.path}`).to.equal(true);
      }

      const log = lines.join('\n');
      expect(log).not.to.include(email);
      expect(log).not.to.match(/[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/);
      for (const secret of [new URL(link).searchParams.get('t')!, authorizationCode, tokens.access_token, tokens.id_token, tokens.refresh_token].filter(Boolean)) {
        expect(log).not.to.include(secret);
      }
      expect(log).not.to.match(new RegExp(`(?<![\\w-])${code}(?![\\w-])`));
    } finally {
      await server.close();
    }
  });
});
