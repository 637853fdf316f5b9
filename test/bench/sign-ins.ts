import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { findForm } from '../support/browser.js';
import { BenchBrowser, type HttpClient } from './http-client.js';
import type { MailSink } from './mail-sink.js';
import { REDIRECT_URI, type BenchClient } from './processes.js';
import { Samples } from './stats.js';

/** One address of the server with its client (the reference with several processes has several). */
export interface ShardTarget {
  http: HttpClient;
  client: BenchClient;
  /** for client_credentials */
  machine: BenchClient;
}

export interface SignInTarget {
  kind: 'sesame' | 'reference' | 'durable';
  /** person i signs in through shards[i % length], always the same one */
  shards: ShardTarget[];
  /** Sesame only: where its mail arrives */
  sink?: MailSink;
}

export interface SignInLimits {
  /** simulated people signing in at the same time */
  people: number;
  /** stop after this many sign-ins have started... */
  signins: number;
  /** ...or after this many seconds, whichever comes first */
  seconds: number;
  /** addresses are person-<i>@bench.example: the same people sign in again and again, each time in a fresh browser */
  emailDomain?: string;
  /** counted up as sign-ins complete (read by the memory trace while the run goes on) */
  progress?: { completed: number };
}

export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  /** the shard that issued them (and is the only one that knows them, for the reference) */
  shard: number;
}

export interface SignInResult {
  completed: number;
  failed: number;
  elapsedMs: number;
  perSecond: number;
  total: Samples;
  steps: Map<string, Samples>;
  /** Sesame: from the start of the email form's POST to the moment the SMTP sink accepted the mail */
  submitToMail: Samples;
  tokens: TokenSet[];
  failures: string[];
}

/** Steps of one sign-in, in order; the reference has no email, so its login is inside `authorize`. */
export const SESAME_STEPS = ['authorize', 'submit_email', 'wait_mail', 'open_link', 'confirm_link', 'token', 'verify_id_token', 'userinfo'];
export const REFERENCE_STEPS = ['authorize', 'token', 'verify_id_token', 'userinfo'];

/**
 * N people sign in concurrently until the count or the time is reached. Each sign-in is the whole
 * thing over HTTP, as a browser and a relying app would do it: authorization request with PKCE,
 * (Sesame) email form, mail, the link opened in the same browser (GET, then the POST that consumes
 * it), code exchanged at /token, ID token verified against the JWKS (fetched once per run), userinfo.
 */
export async function runSignIns(target: SignInTarget, limits: SignInLimits): Promise<SignInResult> {
  const jwks = await Promise.all(target.shards.map(async ({ http }) => createLocalJWKSet(JSON.parse((await http.request('/jwks')).body) as JSONWebKeySet)));
  const steps = new Map((target.kind === 'sesame' ? SESAME_STEPS : REFERENCE_STEPS).map((name) => [name, new Samples()]));
  const result: SignInResult = {
    completed: 0, failed: 0, elapsedMs: 0, perSecond: 0, total: new Samples(), steps, submitToMail: new Samples(), tokens: [], failures: [],
  };
  const started = performance.now();
  const deadline = started + limits.seconds * 1000;
  let issued = 0;
  const person = async (index: number) => {
    const email = `person-${index}@${limits.emailDomain ?? 'bench.example'}`;
    while (issued < limits.signins && performance.now() < deadline) {
      issued++;
      const t0 = performance.now();
      try {
        const shard = index % target.shards.length;
        const tokens = { ...(await signIn(target.kind, target.shards[shard], target.sink, email, jwks[shard], steps, result.submitToMail)), shard };
        result.total.add(performance.now() - t0);
        result.completed++;
        if (limits.progress) limits.progress.completed++;
        result.tokens.push(tokens);
      } catch (error) {
        result.failed++;
        if (result.failures.length < 10) result.failures.push(`${email}: ${(error as Error).message.slice(0, 300)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: limits.people }, (_, i) => person(i)));
  result.elapsedMs = performance.now() - started;
  result.perSecond = result.completed / (result.elapsedMs / 1000);
  return result;
}

async function signIn(
  kind: SignInTarget['kind'],
  { http, client }: ShardTarget,
  sink: MailSink | undefined,
  email: string,
  jwks: ReturnType<typeof createLocalJWKSet>,
  steps: Map<string, Samples>,
  submitToMail: Samples,
): Promise<Omit<TokenSet, 'shard'>> {
  const browser = new BenchBrowser(http);
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const nonce = randomBytes(16).toString('base64url');
  const query = new URLSearchParams({
    client_id: client.clientId,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid email offline_access',
    prompt: 'consent',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state,
    nonce,
    login_hint: email,
  });
  let mark = performance.now();
  const step = (name: string) => {
    const now = performance.now();
    steps.get(name)!.add(now - mark);
    mark = now;
  };

  let callback: string | undefined;
  const first = await browser.navigate('authorize', `/auth?${query}`);
  if (kind !== 'sesame') {
    callback = first.location;
    step('authorize');
  } else {
    if (first.status !== 200 || !first.body.includes('name="email"')) throw new Error(`authorize: expected the email form, got ${first.status}`);
    step('authorize');
    const form = findForm(first.body, /\/email$/);
    const submittedAt = performance.now();
    const check = await browser.navigate('submit_email', new URL(form.action, first.url).toString(), { ...form.fields, email });
    if (check.status !== 200) throw new Error(`submit_email: expected "check your email", got ${check.status}`);
    step('submit_email');
    const mail = await sink!.waitFor(email, 30_000);
    submitToMail.add(mail.acceptedAt - submittedAt);
    if (!mail.link) throw new Error('wait_mail: no link in the mail');
    step('wait_mail');
    const verify = await browser.navigate('open_link', mail.link);
    if (verify.status !== 200) throw new Error(`open_link: got ${verify.status}`);
    step('open_link');
    const confirm = findForm(verify.body, '/login/verify');
    const done = await browser.navigate('confirm_link', new URL(confirm.action, verify.url).toString(), confirm.fields);
    callback = done.location;
    step('confirm_link');
  }
  if (!callback?.startsWith(REDIRECT_URI)) throw new Error('no redirect to the app');
  const params = new URL(callback).searchParams;
  const code = params.get('code');
  if (!code || params.get('state') !== state) throw new Error(`bad callback: ${params.get('error') ?? 'state mismatch'}`);

  const tokenResponse = await http.request('/token', {
    method: 'POST',
    headers: { authorization: basicAuth(client), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }).toString(),
  });
  if (tokenResponse.status !== 200) {
    http.counter.flag(http.counter.unexpected, 'token', tokenResponse.status);
    throw new Error(`token: ${tokenResponse.status} ${tokenResponse.body.slice(0, 200)}`);
  }
  const tokens = JSON.parse(tokenResponse.body) as { access_token: string; id_token: string; refresh_token?: string };
  step('token');

  const { payload } = await jwtVerify(tokens.id_token, jwks, { issuer: http.origin.origin, audience: client.clientId });
  if (payload.nonce !== nonce) throw new Error('ID token nonce mismatch');
  step('verify_id_token');

  const userinfo = await http.request('/me', { headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' } });
  if (userinfo.status !== 200) {
    http.counter.flag(http.counter.unexpected, 'userinfo', userinfo.status);
    throw new Error(`userinfo: ${userinfo.status}`);
  }
  if ((JSON.parse(userinfo.body) as { sub?: string }).sub !== payload.sub) throw new Error('userinfo sub mismatch');
  step('userinfo');
  return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token };
}

export function basicAuth(client: BenchClient): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64')}`;
}
