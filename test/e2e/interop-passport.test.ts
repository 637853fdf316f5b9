import { expect } from 'chai';
import express from 'express';
import session from 'express-session';
import passport from 'passport';
import { Strategy as OpenIDConnectStrategy } from 'passport-openidconnect';
import * as client from 'openid-client';
import { Strategy, type VerifyFunction } from 'openid-client/passport';
import { listenOnLocalhost, type RunningApp } from '../support/express-app.js';
import { Browser } from '../support/browser.js';
import { registerWebApp, signInWithLink } from '../support/relying-party.js';
import { withServer } from '../support/test-server.js';

interface AppUser {
  sub: string;
  email: string;
  idToken: string;
}

/**
 * A server-rendered web app as its developers would write it: express, express-session and
 * passport with openid-client's passport strategy (PKCE and ID token validation built in), a
 * confidential client with client_secret_basic. The app is on its own origin (localhost:PORT).
 */
async function startPassportApp(issuer: string, registerClient: (origin: string) => Promise<{ clientId: string; clientSecret: string }>): Promise<RunningApp> {
  const app = express();
  const running = await listenOnLocalhost(app);
  const { origin } = running;
  const { clientId, clientSecret } = await registerClient(origin);
  const config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret), { execute: [client.allowInsecureRequests] });

  const auth = new passport.Passport();
  const verify: VerifyFunction = (tokens, verified) => {
    const { sub } = tokens.claims()!;
    client.fetchUserInfo(config, tokens.access_token, sub).then(
      (userinfo) => verified(null, { sub, email: userinfo.email!, idToken: tokens.id_token! } satisfies AppUser),
      (error: Error) => verified(error),
    );
  };
  auth.use('sesame', new Strategy({ config, scope: 'openid email', callbackURL: `${origin}/auth/callback` }, verify));
  auth.serializeUser((user, done) => done(null, user));
  auth.deserializeUser((user: AppUser, done) => done(null, user));

  app.use(session({ secret: 'passport-app-session-secret', resave: false, saveUninitialized: false, name: 'app.sid' }));
  app.use(auth.session());
  app.get('/', (req, res) => {
    const user = req.user as AppUser | undefined;
    res.type('text').send(user ? `signed in as ${user.email} (${user.sub})` : 'not signed in');
  });
  app.get('/login', auth.authenticate('sesame'));
  app.get('/auth/callback', auth.authenticate('sesame', { successRedirect: '/', failureRedirect: '/failed' }));
  app.get('/logout', (req, res, next) => {
    const user = req.user as AppUser | undefined;
    req.logout((error) => {
      if (error) return next(error);
      if (!user) return res.redirect('/');
      res.redirect(client.buildEndSessionUrl(config, { id_token_hint: user.idToken, post_logout_redirect_uri: `${origin}/` }).href);
    });
  });
  return running;
}

/** The same app with passport-openidconnect 0.1, which sends no PKCE (code_challenge). */
async function startPassportOpenIdConnectApp(issuer: string, registerClient: (origin: string) => Promise<{ clientId: string; clientSecret: string }>): Promise<RunningApp> {
  const app = express();
  const running = await listenOnLocalhost(app);
  const { origin } = running;
  const { clientId, clientSecret } = await registerClient(origin);
  const auth = new passport.Passport();
  auth.use('sesame', new OpenIDConnectStrategy({
    issuer,
    authorizationURL: `${issuer}/auth`,
    tokenURL: `${issuer}/token`,
    userInfoURL: `${issuer}/me`,
    clientID: clientId,
    clientSecret,
    callbackURL: `${origin}/auth/callback`,
    scope: ['email'],
  }, (_issuer: string, profile: passport.Profile, done: (error: Error | null, user?: Express.User) => void) => done(null, profile)));
  app.use(session({ secret: 'passport-app-session-secret', resave: false, saveUninitialized: false, name: 'app.sid' }));
  app.get('/login', auth.authenticate('sesame'));
  app.get('/auth/callback', auth.authenticate('sesame', { successRedirect: '/', failureRedirect: '/failed' }));
  app.use((error: { code?: string; message: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).type('text').send(`sign-in failed: ${error.code ?? ''} ${error.message}`);
  });
  return running;
}

describe('interop: passport web app on express (sqlite)', function () {
  const apps: RunningApp[] = [];

  const server = withServer('sqlite');
  after(async () => {
    await Promise.all(apps.map((app) => app.close()));
  });

  it('openid-client/passport: sign-in through the magic link, a session in the app, sign-out at both', async () => {
    const app = await startPassportApp(server.issuer, (origin) =>
      registerWebApp(server.sesame, { name: 'Passport App', redirectUris: [`${origin}/auth/callback`], postLogoutRedirectUris: [`${origin}/`] }));
    apps.push(app);
    const person = new Browser(app.origin);
    const atSesame = new Browser(server.issuer);

    expect((await person.get('/')).body).to.equal('not signed in');
    const toSesame = await person.get('/login');
    const authorization = new URL(toSesame.location!);
    expect(authorization.origin).to.equal(server.issuer);
    expect(authorization.searchParams.get('code_challenge_method')).to.equal('S256');

    const callback = await signInWithLink(atSesame, server.smtp, { url: authorization }, 'passport@example.com', { redirectUri: `${app.origin}/auth/callback` });
    const home = await person.get(callback);
    expect(home.url).to.equal(`${app.origin}/`);
    expect(home.body).to.match(/^signed in as passport@example\.com \(.+\)$/);
    // the app's own session keeps the person signed in
    expect((await person.get('/')).body).to.equal(home.body);

    const toLogout = await person.get('/logout');
    expect((await person.get('/')).body).to.equal('not signed in');
    const confirm = await atSesame.get(toLogout.location!);
    const done = await atSesame.submit(confirm, /\/session\/end\/confirm$/, { logout: 'yes' });
    expect(done.location).to.equal(`${app.origin}/`);
    // signed out at Sesame too: the next sign-in asks for an email again
    const again = await atSesame.get((await person.get('/login')).location!);
    expect(again.body).to.include('name="email"');
  });

  it('passport-openidconnect 0.1 sends no PKCE, so Sesame sends it back with invalid_request before anyone signs in', async () => {
    const app = await startPassportOpenIdConnectApp(server.issuer, (origin) =>
      registerWebApp(server.sesame, { name: 'Legacy Passport App', redirectUris: [`${origin}/auth/callback`] }));
    apps.push(app);
    const person = new Browser(app.origin);
    const authorization = new URL((await person.get('/login')).location!);
    expect(authorization.searchParams.has('code_challenge')).to.equal(false);
    const atSesame = await new Browser(server.issuer).get(authorization.href);
    expect(atSesame.body).not.to.include('name="email"');
    const back = new URL(atSesame.location!);
    expect(back.origin + back.pathname).to.equal(`${app.origin}/auth/callback`);
    expect(back.searchParams.get('error')).to.equal('invalid_request');
    expect(back.searchParams.get('error_description')).to.match(/PKCE/);
    const failed = await person.get(back.href);
    expect(failed.body).to.match(/^sign-in failed: invalid_request/);
  });
});
