import { ExpressAuth, getSession, type ExpressAuthConfig } from '@auth/express';
import { expect } from 'chai';
import express from 'express';
import { listenOnLocalhost, type RunningApp } from '../support/express-app.js';
import { Browser } from '../support/browser.js';
import { registerWebApp, signInWithLink } from '../support/relying-party.js';
import { withServer } from '../support/test-server.js';

/**
 * An express 5 app as Auth.js' docs have it: `ExpressAuth` mounted under /auth with Sesame as a
 * custom OIDC provider (discovery from the issuer, PKCE S256 and client_secret_basic are Auth.js'
 * defaults), sessions as Auth.js' encrypted JWT cookie, read back with `getSession`. Auth.js builds
 * the session's user from the ID token alone, never from userinfo. The app is on its own origin.
 */
async function startAuthJsApp(issuer: string, registerClient: (origin: string) => Promise<{ clientId: string; clientSecret: string }>): Promise<RunningApp> {
  const app = express();
  const running = await listenOnLocalhost(app);
  const { origin } = running;
  const { clientId, clientSecret } = await registerClient(origin);
  const authConfig: ExpressAuthConfig = {
    secret: 'authjs-app-secret-0123456789abcdefghijklmnop',
    trustHost: true,
    providers: [{ id: 'sesame', name: 'Sesame', type: 'oidc', issuer, clientId, clientSecret }],
  };

  // express 5's router has no bare `*`: mounting at /auth hands Auth.js everything below it
  app.use('/auth', ExpressAuth(authConfig));
  app.get('/', async (req, res) => {
    const session = await getSession(req, authConfig);
    res.type('text').send(session?.user ? `signed in as ${session.user.email}` : 'not signed in');
  });
  return running;
}

describe('interop: Auth.js (@auth/express) web app (sqlite)', function () {
  let app: RunningApp;

  const server = withServer('sqlite');
  before(async () => {
    app = await startAuthJsApp(server.issuer, (origin) =>
      registerWebApp(server.sesame, { name: 'Auth.js App', redirectUris: [`${origin}/auth/callback/sesame`] }));
  });
  after(async () => {
    await app?.close();
  });

  it('signs in through the magic link; the Auth.js session has the email from the ID token; signs out of the app', async () => {
    const person = new Browser(app.origin);
    const atSesame = new Browser(server.issuer);

    expect((await person.get('/')).body).to.equal('not signed in');
    // Auth.js' own sign-in page posts its CSRF token with the chosen provider
    const signInPage = await person.get('/auth/signin');
    const toSesame = await person.submit(signInPage, /\/auth\/signin\/sesame$/);
    const authorization = new URL(toSesame.location!);
    expect(authorization.origin).to.equal(server.issuer);
    // PKCE is all Auth.js sends by default for an OIDC provider (no state, no nonce), so Sesame's
    // PKCE requirement holds without relaxing anything for this client
    expect(authorization.searchParams.get('code_challenge_method')).to.equal('S256');

    const callback = await signInWithLink(atSesame, server.smtp, { url: authorization }, 'authjs@example.com', { redirectUri: `${app.origin}/auth/callback/sesame` });
    const home = await person.get(callback);
    expect(home.url).to.equal(`${app.origin}/`);
    expect(home.body).to.equal('signed in as authjs@example.com');
    const session = await (await person.send('/auth/session', { headers: { accept: 'application/json' } })).json() as { user?: { email?: string } };
    expect(session.user?.email).to.equal('authjs@example.com');

    // Auth.js signs out of the app only (it has no RP-initiated logout for a provider)
    const signOutPage = await person.get('/auth/signout');
    const signedOut = await person.submit(signOutPage, /\/auth\/signout$/);
    expect(signedOut.url).to.equal(`${app.origin}/`);
    expect(signedOut.body).to.equal('not signed in');
  });
});
