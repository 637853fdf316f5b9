import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config, Mode } from '../../src/config/config.js';
import { ConfigError, loadConfig, withBoundPort } from '../../src/config/load.js';

const KEY_A = 'cookie-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const KEY_B = 'cookie-key-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const HMAC_A = 'hmac-secret-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';

const PRODUCTION = {
  ISSUER: 'https://id.example.com',
  COOKIE_KEYS: `${KEY_A},${KEY_B}`,
  HMAC_SECRETS: HMAC_A,
  SMTP_URL: 'smtps://mailer:pw@smtp.example.com:465',
  MAIL_FROM: 'Example ID <no-reply@example.com>',
};

function configError(env: Record<string, string | undefined>, cwd: string, mode: Mode = 'development'): ConfigError {
  try {
    loadConfig({ env, cwd, mode });
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return error as ConfigError;
  }
  expect.fail(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** The error names the setting at the start of one of its problems, and in the message printed at start-up. */
function expectProblemFor(error: ConfigError, setting: string): void {
  // `COOKIE_KEYS.1: …` names the setting and which item of its list is wrong
  const named = new RegExp(`^${setting}(\\.\\d+)?: `);
  expect(error.problems.some((problem) => named.test(problem)), `${setting} in ${JSON.stringify(error.problems)}`).to.equal(true);
  expect(error.message).to.match(new RegExp(error.problems.length === 1 ? `^Invalid configuration: ${setting}` : `\n  - ${setting}`));
}

function expectDeeplyFrozen(value: unknown, path: string): void {
  if (!value || typeof value !== 'object') return;
  expect(Object.isFrozen(value), `${path} is frozen`).to.equal(true);
  for (const [key, child] of Object.entries(value)) expectDeeplyFrozen(child, `${path}.${key}`);
}

describe('loadConfig', () => {
  let cwd: string;

  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), 'sesame-config-'));
  });
  afterEach(() => {
    rmSync(cwd, { recursive: true, force: true });
  });

  describe('development defaults', () => {
    it('runs with no settings at all, on documented defaults', () => {
      const config = loadConfig({ mode: 'development', env: {}, cwd });
      expect(config.env).to.equal('development');
      expect(config.issuer).to.equal('http://localhost:3000');
      expect(config.port).to.equal(3000);
      expect(config.host).to.equal('0.0.0.0');
      expect(config.trustProxy).to.equal(false);
      expect(config.dataDir).to.equal(join(cwd, 'data'));
      expect(config.database).to.deep.equal({ client: 'sqlite', filename: join(cwd, 'data', 'sesame.sqlite'), setting: 'DATA_DIR', busyTimeoutMs: 5000 });
      expect(config.mail).to.deep.equal({ smtpUrl: undefined, from: 'Sesame <no-reply@localhost>', devDir: join(cwd, 'data', 'mail'), timeoutSeconds: 10, dkim: undefined });
      expect(config.shutdownGraceSeconds).to.equal(10);
      expect(config.metricsToken).to.equal(undefined);
      expect(config.login).to.deep.equal({ ttlSeconds: 600, codeMaxAttempts: 5, matchMaxAttempts: 3 });
      expect(config.signup).to.deep.equal({ policy: 'open', domains: [] });
      expect(config.sessionTtlSeconds).to.equal(14 * 24 * 3600);
      expect(config.logLevel).to.equal('info');
    });

    it('generates development secrets into <DATA_DIR>/dev-secrets.json and reuses them on the next start', () => {
      const path = join(cwd, 'data', 'dev-secrets.json');
      expect(existsSync(path)).to.equal(false);
      const first = loadConfig({ mode: 'development', env: {}, cwd });
      expect(existsSync(path)).to.equal(true);
      const stored = JSON.parse(readFileSync(path, 'utf8')) as { cookieKeys: string[]; hmacSecrets: string[] };
      expect(stored.cookieKeys).to.deep.equal(first.secrets.cookieKeys);
      expect(stored.hmacSecrets).to.deep.equal(first.secrets.hmacSecrets);
      expect(first.secrets.cookieKeys).to.have.length(1);
      expect(first.secrets.cookieKeys[0]).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(first.secrets.hmacSecrets[0]).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(first.secrets.cookieKeys[0]).not.to.equal(first.secrets.hmacSecrets[0]);
      expect(statSync(path).mode & 0o077, 'dev-secrets.json is private to its owner').to.equal(0);

      const second = loadConfig({ mode: 'development', env: {}, cwd });
      expect(second.secrets.cookieKeys).to.deep.equal(first.secrets.cookieKeys);
      expect(second.secrets.hmacSecrets).to.deep.equal(first.secrets.hmacSecrets);

      // another data folder gets other secrets
      const elsewhere = loadConfig({ mode: 'development', env: { DATA_DIR: 'other-data' }, cwd });
      expect(elsewhere.secrets.hmacSecrets).not.to.deep.equal(first.secrets.hmacSecrets);
      expect(existsSync(join(cwd, 'other-data', 'dev-secrets.json'))).to.equal(true);
    });

    it('says in its notices which development defaults were applied', () => {
      const explicit = loadConfig({ mode: 'development', env: { ISSUER: 'http://localhost:4000', COOKIE_KEYS: KEY_A, HMAC_SECRETS: HMAC_A }, cwd });
      expect(explicit.notices).to.deep.equal([]);
      expect(existsSync(join(cwd, 'data', 'dev-secrets.json')), 'no secrets generated when all are given').to.equal(false);

      const config = loadConfig({ mode: 'development', env: {}, cwd });
      expect(config.notices).to.have.length(2);
      expect(config.notices.some((n) => n.includes('ISSUER') && n.includes('http://localhost:3000') && n.includes('development default'))).to.equal(true);
      expect(config.notices.some((n) => n.includes('development secrets') && n.includes(join(cwd, 'data', 'dev-secrets.json')))).to.equal(true);
    });

    it('uses explicit settings over the defaults', () => {
      const config = loadConfig({
        mode: 'development',
        env: { PORT: '8080', ISSUER: 'http://localhost:8080/', COOKIE_KEYS: ` ${KEY_A} , ${KEY_B} `, HMAC_SECRETS: HMAC_A, TRUST_PROXY: 'yes', LOGIN_TTL_SECONDS: '120', LOG_LEVEL: 'debug' },
        cwd,
      });
      expect(config.port).to.equal(8080);
      expect(config.issuer, 'trailing slash removed').to.equal('http://localhost:8080');
      expect(config.secrets.cookieKeys).to.deep.equal([KEY_A, KEY_B]);
      expect(config.secrets.hmacSecrets).to.deep.equal([HMAC_A]);
      expect(config.trustProxy).to.equal(true);
      expect(config.login.ttlSeconds).to.equal(120);
      expect(config.logLevel).to.equal('debug');
    });

    it('ignores empty environment values', () => {
      const config = loadConfig({ mode: 'development', env: { PORT: '', ISSUER: '' }, cwd });
      expect(config.port).to.equal(3000);
      expect(config.issuer).to.equal('http://localhost:3000');
    });
  });

  it('returns a deeply frozen object', () => {
    const config = loadConfig({ mode: 'development', env: { SIGNUP_POLICY: 'domains', SIGNUP_DOMAINS: 'example.com' }, cwd });
    expectDeeplyFrozen(config, 'config');
    expect(() => {
      (config as { port: number }).port = 1;
    }).to.throw(TypeError);
    expect(() => {
      (config.secrets.cookieKeys as string[]).push('x');
    }).to.throw(TypeError);
    expect(() => {
      (config.database as { client: string }).client = 'postgres';
    }).to.throw(TypeError);
    expect(config.port).to.equal(3000);
    expect(config.database.client).to.equal('sqlite');
  });

  describe('PORT=0: any free port', () => {
    it('an issuer on port 0 takes the port bound (with its passkey origin and notice); any other issuer stays', () => {
      const derived = loadConfig({ mode: 'development', env: { PORT: '0', PASSKEYS_ENABLED: 'true' }, cwd });
      expect(derived.issuer).to.equal('http://localhost:0');
      const bound = withBoundPort(derived, 41234);
      expect(bound.issuer).to.equal('http://localhost:41234');
      expect(bound.passkeys).to.include({ origin: 'http://localhost:41234', rpId: 'localhost' });
      expect(bound.notices).to.include('ISSUER not set: using http://localhost:41234 (development default)');
      const given = loadConfig({ mode: 'development', env: { PORT: '0', ISSUER: 'http://127.0.0.1:0/' }, cwd });
      expect(withBoundPort(given, 41234).issuer).to.equal('http://127.0.0.1:41234');
      const operators = loadConfig({ mode: 'development', env: { PORT: '0', ISSUER: 'https://id.example.com' }, cwd });
      expect(withBoundPort(operators, 41234)).to.equal(operators);
    });
  });

  describe('DATABASE_URL', () => {
    const database = (value: string): Config['database'] => loadConfig({ mode: 'development', env: { DATABASE_URL: value }, cwd }).database;

    it('postgres:// and postgresql:// select PostgreSQL with the URL as is', () => {
      expect(database('postgres://u@h/db')).to.deep.equal({ client: 'postgres', url: 'postgres://u@h/db', setting: 'DATABASE_URL', busyTimeoutMs: 5000 });
      expect(database('postgresql://u:p@h:5433/db?sslmode=require')).to.deep.equal({ client: 'postgres', url: 'postgresql://u:p@h:5433/db?sslmode=require', setting: 'DATABASE_URL', busyTimeoutMs: 5000 });
    });

    it('sqlite:// and plain paths select SQLite with an absolute file name under cwd', () => {
      expect(database('sqlite://./x.sqlite')).to.deep.equal({ client: 'sqlite', filename: join(cwd, 'x.sqlite'), setting: 'DATABASE_URL', busyTimeoutMs: 5000 });
      expect(database('sqlite:db/y.sqlite')).to.deep.equal({ client: 'sqlite', filename: join(cwd, 'db', 'y.sqlite'), setting: 'DATABASE_URL', busyTimeoutMs: 5000 });
      expect(database('sqlite:///var/lib/sesame/z.sqlite')).to.deep.equal({ client: 'sqlite', filename: '/var/lib/sesame/z.sqlite', setting: 'DATABASE_URL', busyTimeoutMs: 5000 });
      expect(database('db/plain.sqlite')).to.deep.equal({ client: 'sqlite', filename: join(cwd, 'db', 'plain.sqlite'), setting: 'DATABASE_URL', busyTimeoutMs: 5000 });
      expect(database('/abs/plain.sqlite')).to.deep.equal({ client: 'sqlite', filename: '/abs/plain.sqlite', setting: 'DATABASE_URL', busyTimeoutMs: 5000 });
    });

    it('refuses other schemes and an empty sqlite path, naming DATABASE_URL', () => {
      expectProblemFor(configError({ DATABASE_URL: 'mysql://x' }, cwd), 'DATABASE_URL');
      expectProblemFor(configError({ DATABASE_URL: 'sqlite://' }, cwd), 'DATABASE_URL');
    });
  });

  describe('refuses bad values and names the setting', () => {
    const cases: [string, string][] = [
      ['PORT', 'abc'],
      ['PORT', '70000'],
      ['PORT', '-1'],
      ['PORT', '80.5'],
      ['ISSUER', 'not-a-url'],
      ['ISSUER', 'ftp://x'],
      ['ISSUER', 'http://localhost:3000/?tenant=a'],
      ['ISSUER', 'http://localhost:3000/#x'],
      ['LOGIN_TTL_SECONDS', '5'],
      ['LOGIN_TTL_SECONDS', '99999'],
      ['LOGIN_TTL_SECONDS', 'ten'],
      ['LOGIN_CODE_MAX_ATTEMPTS', '0'],
      ['SIGNUP_POLICY', 'maybe'],
      ['SMTP_URL', 'http://x'],
      ['COOKIE_KEYS', 'short'],
      ['COOKIE_KEYS', `${KEY_A},short`],
      ['HMAC_SECRETS', 'short'],
      ['MAIL_FROM', 'no-reply'],
      ['MAIL_FROM', 'Example ID <no-reply>'],
      ['ADMIN_API_ENABLED', 'sometimes'],
      ['TRUST_PROXY', 'maybe'],
      ['DPOP_REQUIRE_NONCE', 'sometimes'],
      ['LOG_LEVEL', 'loud'],
    ];
    for (const [setting, value] of cases) {
      it(`${setting}=${value}`, () => {
        const error = configError({ [setting]: value }, cwd);
        expectProblemFor(error, setting);
        expect(existsSync(join(cwd, 'data')), 'nothing written for a refused configuration').to.equal(false);
      });
    }

    it('lists several problems in one error', () => {
      const error = configError({ PORT: 'abc', SIGNUP_POLICY: 'maybe', SMTP_URL: 'http://x' }, cwd);
      expectProblemFor(error, 'PORT');
      expectProblemFor(error, 'SIGNUP_POLICY');
      expectProblemFor(error, 'SMTP_URL');
    });
  });

  describe('production (sesame serve)', () => {
    it('lists every missing required setting in one error', () => {
      const error = configError({}, cwd, 'production');
      for (const setting of ['ISSUER', 'COOKIE_KEYS', 'HMAC_SECRETS', 'SMTP_URL', 'MAIL_FROM']) expectProblemFor(error, setting);
      expect(existsSync(join(cwd, 'data')), 'no development secrets in production').to.equal(false);
    });

    it('reports bad values, an http issuer and the missing settings in one pass', () => {
      const error = configError({ PORT: 'abc', COOKIE_KEYS: 'short', ISSUER: 'http://id.example.com', MAIL_FROM: 'no-reply' }, cwd, 'production');
      for (const setting of ['PORT', 'COOKIE_KEYS', 'ISSUER', 'HMAC_SECRETS', 'SMTP_URL', 'MAIL_FROM']) expectProblemFor(error, setting);
      expect(error.problems).to.include('ISSUER: must be https in production');
      expect(error.problems.filter((p) => p.startsWith('COOKIE_KEYS')), 'a bad value is not also called missing').to.have.length(1);
      expect(error.problems.filter((p) => p.startsWith('MAIL_FROM')), 'a bad value is not also called missing').to.have.length(1);
    });

    it('names only what is missing', () => {
      const { SMTP_URL: _smtp, HMAC_SECRETS: _hmac, ...rest } = PRODUCTION;
      const error = configError(rest, cwd, 'production');
      expectProblemFor(error, 'SMTP_URL');
      expectProblemFor(error, 'HMAC_SECRETS');
      expect(error.problems).to.have.length(2);
    });

    it('requires an https ISSUER', () => {
      const error = configError({ ...PRODUCTION, ISSUER: 'http://id.example.com' }, cwd, 'production');
      expectProblemFor(error, 'ISSUER');
      expect(error.message).to.match(/https/);
    });

    it('never uses development secrets, even when DATA_DIR holds some', () => {
      loadConfig({ mode: 'development', env: {}, cwd });
      const error = configError({ ISSUER: PRODUCTION.ISSUER, SMTP_URL: PRODUCTION.SMTP_URL, MAIL_FROM: PRODUCTION.MAIL_FROM }, cwd, 'production');
      expect(error.problems.map((p) => p.split(':')[0])).to.deep.equal(['COOKIE_KEYS', 'HMAC_SECRETS']);
    });

    it('accepts a complete production configuration, generates nothing, and says that metrics are off', () => {
      const config = loadConfig({ mode: 'production', env: PRODUCTION, cwd });
      expect(config.env).to.equal('production');
      expect(config.issuer).to.equal('https://id.example.com');
      expect(config.secrets.cookieKeys).to.deep.equal([KEY_A, KEY_B]);
      expect(config.secrets.hmacSecrets).to.deep.equal([HMAC_A]);
      expect(config.mail.smtpUrl).to.equal(PRODUCTION.SMTP_URL);
      expect(config.mail.from).to.equal(PRODUCTION.MAIL_FROM);
      expect(config.outboundAllowPrivate).to.equal(false);
      expect(config.notices).to.deep.equal(['METRICS_TOKEN not set: /metrics is off (404); set it to scrape metrics with Authorization: Bearer <token>']);
      expect(loadConfig({ mode: 'production', env: { ...PRODUCTION, METRICS_TOKEN: 'metrics-token-0123456789' }, cwd }).notices).to.deep.equal([]);
      expect(existsSync(join(cwd, 'data'))).to.equal(false);
    });
  });

  describe('modes come from the command, never from NODE_ENV', () => {
    it('NODE_ENV=production does not make development strict', () => {
      const config = loadConfig({ mode: 'development', env: { NODE_ENV: 'production' }, cwd });
      expect(config.env).to.equal('development');
      expect(config.issuer).to.equal('http://localhost:3000');
      expect(config.outboundAllowPrivate).to.equal(true);
      expect(existsSync(join(cwd, 'data', 'dev-secrets.json'))).to.equal(true);
    });

    it('NODE_ENV=development (or any other value) does not relax production, and is not reported', () => {
      for (const value of ['development', 'test', 'staging']) {
        const error = configError({ NODE_ENV: value }, cwd, 'production');
        expect(error.problems.map((p) => p.split(':')[0])).to.deep.equal(['ISSUER', 'COOKIE_KEYS', 'HMAC_SECRETS', 'SMTP_URL', 'MAIL_FROM']);
        const config = loadConfig({ mode: 'production', env: { ...PRODUCTION, NODE_ENV: value }, cwd });
        expect(config.env).to.equal('production');
        expect(config.outboundAllowPrivate).to.equal(false);
      }
      expect(existsSync(join(cwd, 'data'))).to.equal(false);
    });

    it("test mode (the test suite's own servers) requires nothing and may call loopback apps", () => {
      const config = loadConfig({ mode: 'test', env: {}, cwd });
      expect(config.env).to.equal('test');
      expect(config.issuer).to.equal('http://localhost:3000');
      expect(config.outboundAllowPrivate).to.equal(true);
    });

    it('the other CLI commands take the secrets from the environment, with no issuer or mail rules', () => {
      const config = loadConfig({ mode: 'cli', env: { COOKIE_KEYS: KEY_A, HMAC_SECRETS: HMAC_A }, cwd });
      expect(config.secrets).to.deep.equal({ cookieKeys: [KEY_A], hmacSecrets: [HMAC_A] });
      expect(existsSync(join(cwd, 'data'))).to.equal(false);
    });

    it('the other CLI commands use the development secrets sesame dev made, and never make new ones', () => {
      const error = configError({}, cwd, 'cli');
      expect(error.problems).to.have.length(1);
      expect(error.message).not.to.include('\n');
      expect(error.problems[0]).to.match(/^COOKIE_KEYS, HMAC_SECRETS: not set/).and.include('sesame dev').and.include(join(cwd, 'data', 'dev-secrets.json'));
      expect(existsSync(join(cwd, 'data')), 'nothing generated').to.equal(false);
      expect(configError({ HMAC_SECRETS: HMAC_A }, cwd, 'cli').problems[0]).to.match(/^COOKIE_KEYS: not set/);

      const dev = loadConfig({ mode: 'development', env: {}, cwd });
      const cli = loadConfig({ mode: 'cli', env: {}, cwd });
      expect(cli.secrets).to.deep.equal(dev.secrets);
      expect(cli.env).to.equal('cli');
    });

    it('refuses a dev-secrets.json that holds something else, naming DATA_DIR', () => {
      mkdirSync(join(cwd, 'data'));
      writeFileSync(join(cwd, 'data', 'dev-secrets.json'), '{"cookieKeys": "x"}');
      expectProblemFor(configError({}, cwd, 'cli'), 'DATA_DIR');
      expectProblemFor(configError({}, cwd, 'development'), 'DATA_DIR');
    });
  });

  describe('mistyped setting names', () => {
    it('reports an environment variable that is nearly a setting, with the setting it was meant to be', () => {
      const error = configError({ RATE_LIMIT_EMAL: '5/900', PORTT: '4000', LOGIN_TTL_SECONDS: '120' }, cwd);
      expect(error.problems).to.deep.equal([
        'RATE_LIMIT_EMAL: not a setting; did you mean RATE_LIMIT_EMAIL?',
        'PORTT: not a setting; did you mean PORT?',
      ]);
    });

    it('reports typos in the same pass as everything else', () => {
      const error = configError({ ISSUER: 'http://id.example.com', HMAC_SECRET: HMAC_A }, cwd, 'production');
      expect(error.problems).to.include('HMAC_SECRET: not a setting; did you mean HMAC_SECRETS?');
      for (const setting of ['ISSUER', 'COOKIE_KEYS', 'HMAC_SECRETS', 'SMTP_URL', 'MAIL_FROM']) expectProblemFor(error, setting);
    });

    it('leaves the variables every platform sets alone (HOME is 2 edits from HOST)', () => {
      const platform = {
        HOME: '/home/sesame', PATH: '/usr/bin', HOSTNAME: 'web-1', TERM: 'xterm', USER: 'sesame', PWD: '/srv', OLDPWD: '/',
        NODE_ENV: 'production', NODE_OPTIONS: '--enable-source-maps', SHELL: '/bin/sh', LANG: 'C.UTF-8', LOGNAME: 'sesame',
        TMPDIR: '/tmp', TZ: 'UTC', CI: 'true', SHLVL: '1', MAIL: '/var/mail/sesame', EDITOR: 'vi', INIT_CWD: '/srv',
        COLORTERM: 'truecolor', LC_ALL: 'C', HOSTTYPE: 'x86_64', DYNO: 'web.1', SESAME_CONFIG: '', SESAME_WORKER_INDEX: '1',
        SESAME_PORT: 'tcp://10.0.0.1:3000', npm_config_cache: '/tmp', npm_lifecycle_event: 'start', port: '1', rate_limit_emal: 'x',
      };
      const config = loadConfig({ mode: 'production', env: { ...PRODUCTION, ...platform }, cwd });
      expect(config.port).to.equal(3000);
    });

    it('suggests the setting for an unknown key of the JSON file', () => {
      mkdirSync(join(cwd, 'config'));
      writeFileSync(join(cwd, 'config', 'sesame.json'), JSON.stringify({ SIGNUP_POLICYY: 'open', whatever: 1 }));
      const error = configError({}, cwd);
      expect(error.problems[0]).to.match(/^SIGNUP_POLICYY: not a setting \(in .*sesame\.json\); did you mean SIGNUP_POLICY\?$/);
      expect(error.problems[1]).to.match(/^whatever: not a setting \(in .*sesame\.json\)$/);
    });
  });

  describe('MAIL_FROM', () => {
    for (const value of ['no-reply@example.com', 'Example ID <no-reply@example.com>', '"Example, Inc." <id@example.com>', 'Example Inc. <id@mail.example.com>', 'dev@localhost', '<id@example.com>']) {
      it(`accepts ${value}`, () => {
        expect(loadConfig({ mode: 'development', env: { MAIL_FROM: value }, cwd }).mail.from).to.equal(value);
      });
    }
    for (const value of ['no-reply', 'Example ID', 'Example <no-reply>', 'a@example.com, b@example.com', 'Doe, John <x@example.com>', 'Name <x@example.com', 'x@example.com>', 'A <b> <x@example.com>', 'x@-example.com']) {
      it(`refuses ${value}`, () => {
        expectProblemFor(configError({ MAIL_FROM: value }, cwd), 'MAIL_FROM');
      });
    }
  });

  describe('ADMIN_API_ENABLED', () => {
    it('is on while an admin token is active when unset, otherwise on or off', () => {
      expect(loadConfig({ mode: 'development', env: {}, cwd }).adminApi).to.equal('while-a-token-is-active');
      expect(loadConfig({ mode: 'production', env: PRODUCTION, cwd }).adminApi).to.equal('while-a-token-is-active');
      expect(loadConfig({ mode: 'development', env: { ADMIN_API_ENABLED: 'true' }, cwd }).adminApi).to.equal('on');
      expect(loadConfig({ mode: 'development', env: { ADMIN_API_ENABLED: 'false' }, cwd }).adminApi).to.equal('off');
    });
  });

  describe('signup policy', () => {
    it('SIGNUP_POLICY=domains needs SIGNUP_DOMAINS', () => {
      expectProblemFor(configError({ SIGNUP_POLICY: 'domains' }, cwd), 'SIGNUP_DOMAINS');
      expectProblemFor(configError({ SIGNUP_POLICY: 'domains', SIGNUP_DOMAINS: ' , ' }, cwd), 'SIGNUP_DOMAINS');
    });

    it('keeps the listed domains, lower-cased and trimmed', () => {
      const config = loadConfig({ mode: 'development', env: { SIGNUP_POLICY: 'domains', SIGNUP_DOMAINS: 'Example.COM, example.org ,' }, cwd });
      expect(config.signup).to.deep.equal({ policy: 'domains', domains: ['example.com', 'example.org'] });
    });
  });

  describe('the optional JSON file', () => {
    const writeJson = (relative: string, content: string) => {
      const path = join(cwd, relative);
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, content);
      return path;
    };

    it('reads config/sesame.json under cwd', () => {
      writeJson('config/sesame.json', JSON.stringify({ PORT: 4000, SIGNUP_POLICY: 'invite', COOKIE_KEYS: [KEY_A, KEY_B], TRUST_PROXY: true }));
      const config = loadConfig({ mode: 'development', env: {}, cwd });
      expect(config.port).to.equal(4000);
      expect(config.issuer).to.equal('http://localhost:4000');
      expect(config.signup.policy).to.equal('invite');
      expect(config.secrets.cookieKeys).to.deep.equal([KEY_A, KEY_B]);
      expect(config.trustProxy).to.equal(true);
    });

    it('lets the environment win over the file', () => {
      writeJson('config/sesame.json', JSON.stringify({ PORT: 4000, LOG_LEVEL: 'warn' }));
      const config = loadConfig({ mode: 'development', env: { PORT: '5000' }, cwd });
      expect(config.port).to.equal(5000);
      expect(config.logLevel, 'file values not overridden stay').to.equal('warn');
    });

    it('reads the file SESAME_CONFIG names, relative to cwd', () => {
      writeJson('elsewhere/custom.json', JSON.stringify({ PORT: 4100 }));
      writeJson('config/sesame.json', JSON.stringify({ PORT: 4000 }));
      expect(loadConfig({ mode: 'development', env: { SESAME_CONFIG: 'elsewhere/custom.json' }, cwd }).port).to.equal(4100);
    });

    it('refuses an unknown key, naming it', () => {
      writeJson('config/sesame.json', JSON.stringify({ PORT: 4000, PORTT: 4001 }));
      const error = configError({}, cwd);
      expectProblemFor(error, 'PORTT');
    });

    it('refuses invalid JSON, naming SESAME_CONFIG', () => {
      writeJson('config/sesame.json', '{ "PORT": 4000,');
      expectProblemFor(configError({}, cwd), 'SESAME_CONFIG');
    });

    it('refuses a file that does not hold an object', () => {
      writeJson('config/sesame.json', '["PORT"]');
      expectProblemFor(configError({}, cwd), 'SESAME_CONFIG');
    });

    it('reads DKIM settings together, the key as PEM text or a file', () => {
      writeJson('dkim.pem', '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n');
      const config = loadConfig({ mode: 'development', env: { DKIM_DOMAIN: 'example.com', DKIM_SELECTOR: 's1', DKIM_PRIVATE_KEY: 'dkim.pem' }, cwd });
      expect(config.mail.dkim).to.deep.equal({ domainName: 'example.com', keySelector: 's1', privateKey: '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n' });
      expectProblemFor(configError({ DKIM_DOMAIN: 'example.com' }, cwd), 'DKIM_DOMAIN');
      expectProblemFor(configError({ DKIM_DOMAIN: 'example.com', DKIM_SELECTOR: 's1', DKIM_PRIVATE_KEY: 'missing.pem' }, cwd), 'DKIM_PRIVATE_KEY');
    });

    it('treats an empty SESAME_CONFIG as unset, and a null value in the file as absent', () => {
      writeJson('config/sesame.json', JSON.stringify({ PORT: 4200, MAIL_FROM: null }));
      const config = loadConfig({ mode: 'development', env: { SESAME_CONFIG: '' }, cwd });
      expect(config.port).to.equal(4200);
      expect(config.mail.from).to.equal('Sesame <no-reply@localhost>');
    });

    it('refuses a SESAME_CONFIG that points at a missing file', () => {
      const error = configError({ SESAME_CONFIG: 'nope/missing.json' }, cwd);
      expectProblemFor(error, 'SESAME_CONFIG');
      expect(error.message).to.include(join(cwd, 'nope', 'missing.json'));
    });

    it('validates values from the file like environment values', () => {
      writeJson('config/sesame.json', JSON.stringify({ PORT: 70000 }));
      expectProblemFor(configError({}, cwd), 'PORT');
    });
  });
});
