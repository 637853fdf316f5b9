import { expect } from 'chai';
import express from 'express';
import expressOpenIdConnect from 'express-openid-connect';
import { listenOnLocalhost, type RunningApp } from '../support/express-app.js';
import { Browser } from '../support/browser.js';
import { registerWebApp, signInWithLink } from '../support/relying-party.js';
import { withServer } from '../support/test-server.js';

// a CommonJS module whose exports node cannot name statically: take them from its default export
const { auth, requiresAuth } = expressOpenIdConnect;

/**
 * An express 5 app with Auth0's express-openid-connect as its README has it: the `auth()` middleware
 * (its /login, /callback and /logout routes, its encrypted `appSession` cookie), the code flow with
 * client_secret_basic (the library's default for a code client), and `idpLogout` so that /logout
 * also ends the session at Sesame. The library allows an http issuer by itself
 * (openid-client's allowInsecureRequests for an `http:` issuerBaseURL). The app is on its own origin.
 */
async function startExpressOpenIdConnectApp(issuer: string, registerClient: (origin: string) => Promise<{ clientId: string; clientSecret: string }>): Promise<RunningApp> {
  const app = express();
  const running = await listenOnLocalhost(app);
  const { origin } = running;
  const { clientId, clientSecret } = await registerClient(origin);

  app.use(auth({
    issuerBaseURL: issuer,
    baseURL: origin,
    clientID: clientId,
    clientSecret,
    secret: 'express-openid-connect-app-secret-0123456789',
    authRequired: false,
    idpLogout: true,
    enableTelemetry: false,
    authorizationParams: { response_type: 'code', scope: 'openid email' },
  }));
  app.get('/', (req, res) => {
    res.type('text').send(req.oidc.isAuthenticated() ? `signed in as ${req.oidc.user!.email} (${req.oidc.user!.sub})` : 'not signed in');
  });
  app.get('/profile', requiresAuth(), (req, res) => {
    res.json(req.oidc.user);
  });
  return running;
}

describe('interop: express-openid-connect web app (sqlite)', function () {
  let app: RunningApp;

  const server = withServer('sqlite');
  before(async () => {
    app = await startExpressOpenIdConnectApp(server.issuer, (origin) =>
      registerWebApp(server.sesame, { name: 'Express OpenID Connect App', redirectUris: [`${origin}/callback`], postLogoutRedirectUris: [origin] }));
  });
  after(async () => {
    await app?.close();
  });

  it('signs in through the magic link, req.oidc.user has the email, /logout signs out at both', async () => {
    const person = new Browser(app.origin);
    const atSesame = new Browser(server.issuer);

    expect((await person.get('/')).body).to.equal('not signed in');
    const toSesame = await person.get('/login');
    const authorization = new URL(toSesame.location!);
    expect(authorization.origin).to.equal(server.issuer);
    // PKCE, state and nonce: nothing to relax for this client
    expect(authorization.searchParams.get('code_challenge_method')).to.equal('S256');
    expect(authorization.searchParams.has('nonce')).to.equal(true);

    const callback = await signInWithLink(atSesame, server.smtp, { url: authorization }, 'eoc@example.com', { redirectUri: `${app.origin}/callback` });
    const home = await person.get(callback);
    expect(home.url).to.equal(`${app.origin}/`);
    expect(home.body).to.match(/^signed in as eoc@example\.com \(.+\)$/);
    const profile = JSON.parse((await person.get('/profile')).body) as { email?: string; email_verified?: boolean };
    expect(profile).to.include({ email: 'eoc@example.com', email_verified: true });

    const toLogout = await person.get('/logout');
    const endSession = new URL(toLogout.location!);
    expect(endSession.origin + endSession.pathname).to.equal(`${server.issuer}/session/end`);
    expect(endSession.searchParams.has('id_token_hint')).to.equal(true);
    // the library sends its baseURL as it was configured, so that is what is registered
    expect(endSession.searchParams.get('post_logout_redirect_uri')).to.equal(app.origin);
    expect((await person.get('/')).body).to.equal('not signed in');
    const confirm = await atSesame.get(toLogout.location!);
    const done = await atSesame.submit(confirm, /\/session\/end\/confirm$/, { logout: 'yes' });
    expect(done.location).to.equal(`${app.origin}/`);
    // signed out at Sesame too: the next sign-in asks for an email again
    const again = await atSesame.get((await person.get('/login')).location!);
    expect(again.body).to.include('name="email"');
  });
});
