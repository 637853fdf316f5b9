import { expect } from 'chai';
import type { Context } from 'koa';
import { failureOf } from '../../src/http/request-log.js';

const ctx = (status: number, body: unknown, failure?: unknown) => ({ status, body, state: { failure } }) as unknown as Context;

describe('failureOf (the reason on a request log line)', () => {
  it('takes a JSON error body, or what the page that showed the error noted', () => {
    expect(failureOf(ctx(400, { error: 'invalid_grant', error_description: 'grant request is invalid' }))).to.deep.equal({ error: 'invalid_grant', description: 'grant request is invalid' });
    expect(failureOf(ctx(429, '<html>…</html>', { error: 'rate_limited', description: 'Too many sign-in emails' }))).to.deep.equal({ error: 'rate_limited', description: 'Too many sign-in emails' });
  });

  it('only for a 4xx', () => {
    expect(failureOf(ctx(200, { error: 'looks_like_one' }))).to.equal(undefined);
    expect(failureOf(ctx(503, { error: 'temporarily_unavailable' }))).to.equal(undefined);
    expect(failureOf(ctx(404, '<html>…</html>'))).to.equal(undefined);
  });

  it('never puts an address into the log', () => {
    const failure = failureOf(ctx(400, { error: 'email_unchanged', error_description: 'ann.smith+x@example.com is already the address of this account.' }));
    expect(failure).to.deep.equal({ error: 'email_unchanged', description: '[email] is already the address of this account.' });
  });
});
