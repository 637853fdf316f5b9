import { expect } from 'chai';
import { registerClient } from '../support/relying-party.js';
import { withServer } from '../support/test-server.js';

/** Failed client authentication slows the caller's address down (RATE_LIMIT_CLIENT_AUTH_FAILURES_IP). */
describe('failed client authentication is throttled per client IP (sqlite)', function () {
  this.timeout(30_000);

  const server = withServer('sqlite', { RATE_LIMIT_CLIENT_AUTH_FAILURES_IP: '3/900', TRUST_PROXY: 'true' });

  const post = (path: string, clientId: string, secret: string, ip: string) =>
    fetch(`${server.issuer}${path}`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip },
      body: new URLSearchParams(path === '/token' ? { grant_type: 'refresh_token', refresh_token: 'not-a-token' } : { token: 'not-a-token' }),
    });

  it('refuses an address with 429 and Retry-After after 3 failures, at every endpoint where clients authenticate, whichever client it names', async () => {
    const app = await registerClient(server.sesame, { name: 'Throttled' });
    const other = await registerClient(server.sesame, { name: 'Other' });
    for (const path of ['/token', '/token/introspection', '/token/revocation']) {
      expect((await post(path, app.clientId, 'wrong-secret', '198.51.100.7')).status, path).to.equal(401);
    }
    const refused = await post('/token', other.clientId, other.clientSecret!, '198.51.100.7');
    expect(refused.status).to.equal(429);
    expect(Number(refused.headers.get('retry-after'))).to.be.within(890, 900);
    expect(await refused.json()).to.include({ error: 'invalid_client' });
    expect((await post('/request', app.clientId, app.clientSecret!, '198.51.100.7')).status, 'PAR too').to.equal(429);

    // another address is not affected, and right credentials there pass authentication
    const elsewhere = await post('/token', app.clientId, app.clientSecret!, '198.51.100.8');
    expect(elsewhere.status).to.equal(400);
    expect(await elsewhere.json()).to.include({ error: 'invalid_grant' });
  });
});
