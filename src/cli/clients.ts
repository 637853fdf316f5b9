import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { AuthMethod, ClientRecord, GrantType, PublicJwks, TokenLifetimes } from '../clients/client.js';
import { clientToJson, splitScope } from '../clients/client-json.js';
import type { Core } from '../core.js';
import { UsageError } from './usage-error.js';
import { cliActor } from './actor.js';


export async function clientsCommand(core: Core, argv: string[], out: (text: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'add': {
      const { values } = parseArgs({
        args: rest,
        strict: true,
        allowPositionals: false,
        options: {
          public: { type: 'boolean', default: false },
          'first-party': { type: 'boolean', default: false },
          ...METADATA_OPTIONS,
          json: { type: 'boolean', default: false },
        },
      });
      if (!values.name) throw new UsageError('clients add needs --name');
      const { client, clientSecret } = await core.clients.add({
        name: values.name,
        redirectUris: values['redirect-uri'] ?? [],
        postLogoutRedirectUris: values['post-logout-redirect-uri'] ?? [],
        logoUri: values['logo-uri'],
        isPublic: values.public,
        firstParty: values['first-party'],
        ...metadataOptions(values),
        jwksUri: values['jwks-uri'],
        backchannelLogoutUri: values['backchannel-logout-uri'],
      });
      await core.audit.record({ type: 'admin.client.added', clientId: client.clientId, actor: cliActor() });
      if (values.json) {
        out(`${JSON.stringify({ ...describe(client), ...(clientSecret ? { client_secret: clientSecret } : {}) }, null, 2)}\n`);
      } else {
        out(`client_id: ${client.clientId}\n`);
        if (clientSecret) out(`client_secret: ${clientSecret}\n# the secret is shown only now; store it in the app's configuration\n`);
      }
      return 0;
    }
    case 'list': {
      const { values } = parseArgs({ args: rest, strict: true, options: { json: { type: 'boolean', default: false } } });
      const clients = await core.clients.list();
      if (values.json) out(`${JSON.stringify(clients.map(describe), null, 2)}\n`);
      else if (clients.length === 0) out('no clients registered\n');
      else for (const client of clients) out(`${client.clientId}  ${client.name}  ${client.authMethod === 'none' ? 'public' : client.authMethod}${client.firstParty ? '  first-party' : ''}${client.enabled ? '' : '  disabled'}\n`);
      return 0;
    }
    case 'show': {
      const { values, positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
      if (positionals.length !== 1) throw new UsageError('clients show needs one CLIENT_ID');
      show(await core.clients.get(positionals[0]), values.json, out);
      return 0;
    }
    case 'update': {
      const { values, positionals } = parseArgs({
        args: rest,
        strict: true,
        allowPositionals: true,
        options: {
          'first-party': { type: 'boolean' },
          'no-first-party': { type: 'boolean' },
          ...METADATA_OPTIONS,
          'no-dpop-bound': { type: 'boolean' },
          pkce: { type: 'boolean' },
          json: { type: 'boolean', default: false },
        },
      });
      if (positionals.length !== 1) throw new UsageError('clients update needs one CLIENT_ID');
      if (values['first-party'] && values['no-first-party']) throw new UsageError('--first-party and --no-first-party exclude each other');
      const client = await core.clients.update(positionals[0], {
        name: values.name,
        redirectUris: values['redirect-uri'],
        postLogoutRedirectUris: values['post-logout-redirect-uri'],
        // an empty --logo-uri removes the logo
        logoUri: values['logo-uri'] === undefined ? undefined : values['logo-uri'] || null,
        firstParty: values['first-party'] ? true : values['no-first-party'] ? false : undefined,
        ...metadataOptions(values),
        // an empty value removes these
        jwksUri: values['jwks-uri'] === undefined ? undefined : values['jwks-uri'] || null,
        backchannelLogoutUri: values['backchannel-logout-uri'] === undefined ? undefined : values['backchannel-logout-uri'] || null,
        dpopBoundAccessTokens: values['dpop-bound'] ? true : values['no-dpop-bound'] ? false : undefined,
        pkceRequired: values.pkce ? true : values['no-pkce'] ? false : undefined,
      });
      await core.audit.record({ type: 'admin.client.updated', clientId: client.clientId, actor: cliActor() });
      show(client, values.json, out);
      return 0;
    }
    case 'disable':
    case 'enable': {
      const { values, positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
      if (positionals.length !== 1) throw new UsageError(`clients ${sub} needs one CLIENT_ID`);
      const client = await core.clients.setEnabled(positionals[0], sub === 'enable');
      await core.audit.record({ type: sub === 'enable' ? 'admin.client.enabled' : 'admin.client.disabled', clientId: client.clientId, actor: cliActor() });
      if (values.json) show(client, true, out);
      else out(`${sub}d ${client.clientId}\n`);
      return 0;
    }
    case 'rotate-secret': {
      const { values, positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
      if (positionals.length !== 1) throw new UsageError('clients rotate-secret needs one CLIENT_ID');
      const { client, clientSecret } = await core.clients.rotateSecret(positionals[0]);
      await core.audit.record({ type: 'admin.client.secret_rotated', clientId: client.clientId, actor: cliActor() });
      if (values.json) out(`${JSON.stringify({ client_id: client.clientId, client_secret: clientSecret }, null, 2)}\n`);
      else out(`client_id: ${client.clientId}\nclient_secret: ${clientSecret}\n# the old secret no longer works; the new one is shown only now\n`);
      return 0;
    }
    case 'remove': {
      const { positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: {} });
      if (positionals.length !== 1) throw new UsageError('clients remove needs one CLIENT_ID');
      await core.clients.remove(positionals[0]);
      await core.audit.record({ type: 'admin.client.removed', clientId: positionals[0], actor: cliActor() });
      out(`removed ${positionals[0]}\n`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown clients command "${sub}"` : 'clients needs a command: add, list, show, update, disable, enable, rotate-secret or remove');
  }
}

function show(record: ClientRecord, json: boolean, out: (text: string) => void): void {
  const client = describe(record);
  if (json) out(`${JSON.stringify(client, null, 2)}\n`);
  else for (const [key, value] of Object.entries(client)) out(`${key}: ${Array.isArray(value) ? value.join(' ') : value}\n`);
}

const describe = (client: ClientRecord) => clientToJson(client);

/** The options `clients add` and `clients update` share (all but --public and the first-party flags). */
const METADATA_OPTIONS = {
  name: { type: 'string' },
  'redirect-uri': { type: 'string', multiple: true },
  'post-logout-redirect-uri': { type: 'string', multiple: true },
  'logo-uri': { type: 'string' },
  'auth-method': { type: 'string' },
  'jwks-uri': { type: 'string' },
  'jwks-file': { type: 'string' },
  scope: { type: 'string', multiple: true },
  'grant-type': { type: 'string', multiple: true },
  'access-token-ttl': { type: 'string' },
  'id-token-ttl': { type: 'string' },
  'refresh-token-ttl': { type: 'string' },
  'backchannel-logout-uri': { type: 'string' },
  'dpop-bound': { type: 'boolean' },
  'no-pkce': { type: 'boolean' },
} as const;

interface MetadataValues {
  'auth-method'?: string;
  'jwks-file'?: string;
  scope?: string[];
  'grant-type'?: string[];
  'access-token-ttl'?: string;
  'id-token-ttl'?: string;
  'refresh-token-ttl'?: string;
  'dpop-bound'?: boolean;
  'no-pkce'?: boolean;
}

/** Values are passed on as given: the client service checks them and names what is wrong. */
function metadataOptions(values: MetadataValues) {
  const lifetimes: { -readonly [K in keyof TokenLifetimes]: number } = {};
  for (const [flag, key] of [['access-token-ttl', 'accessToken'], ['id-token-ttl', 'idToken'], ['refresh-token-ttl', 'refreshToken']] as const) {
    const value = values[flag];
    if (value === undefined) continue;
    if (!/^\d+$/.test(value)) throw new UsageError(`--${flag} needs a number of seconds`);
    lifetimes[key] = Number(value);
  }
  return {
    authMethod: values['auth-method'] as AuthMethod | undefined,
    jwks: values['jwks-file'] === undefined ? undefined : readJwks(values['jwks-file']),
    scopes: values.scope && splitScope(values.scope.join(' ')),
    grantTypes: values['grant-type'] as GrantType[] | undefined,
    tokenLifetimes: Object.keys(lifetimes).length ? lifetimes : undefined,
    dpopBoundAccessTokens: values['dpop-bound'],
    pkceRequired: values['no-pkce'] ? false : undefined,
  };
}

function readJwks(path: string): PublicJwks {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UsageError(`--jwks-file: cannot read ${path}`);
  }
  try {
    return JSON.parse(text) as PublicJwks;
  } catch {
    throw new UsageError(`--jwks-file: ${path} is not JSON`);
  }
}
