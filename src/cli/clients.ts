import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import type { ClientRecord } from '../clients/client.js';
import type { Core } from '../main.js';
import { UsageError } from './usage-error.js';


export async function clientsCommand(core: Core, argv: string[], out: (text: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'add': {
      const { values } = parseArgs({
        args: rest,
        strict: true,
        allowPositionals: false,
        options: {
          name: { type: 'string' },
          'redirect-uri': { type: 'string', multiple: true },
          'post-logout-redirect-uri': { type: 'string', multiple: true },
          'logo-uri': { type: 'string' },
          public: { type: 'boolean', default: false },
          'first-party': { type: 'boolean', default: false },
          json: { type: 'boolean', default: false },
        },
      });
      if (!values.name) throw new UsageError('clients add needs --name');
      if (!values['redirect-uri']?.length) throw new UsageError('clients add needs at least one --redirect-uri');
      const { client, clientSecret } = await core.clients.add({
        name: values.name,
        redirectUris: values['redirect-uri'],
        postLogoutRedirectUris: values['post-logout-redirect-uri'] ?? [],
        logoUri: values['logo-uri'],
        isPublic: values.public,
        firstParty: values['first-party'],
      });
      await core.audit.record({ type: 'admin.client.added', clientId: client.clientId, details: adminActor() });
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
      else for (const client of clients) out(`${client.clientId}  ${client.name}  ${client.isPublic ? 'public' : 'confidential'}${client.firstParty ? '  first-party' : ''}${client.enabled ? '' : '  disabled'}\n`);
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
          name: { type: 'string' },
          'redirect-uri': { type: 'string', multiple: true },
          'post-logout-redirect-uri': { type: 'string', multiple: true },
          'logo-uri': { type: 'string' },
          'first-party': { type: 'boolean' },
          'no-first-party': { type: 'boolean' },
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
      });
      await core.audit.record({ type: 'admin.client.updated', clientId: client.clientId, details: adminActor() });
      show(client, values.json, out);
      return 0;
    }
    case 'disable':
    case 'enable': {
      const { values, positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
      if (positionals.length !== 1) throw new UsageError(`clients ${sub} needs one CLIENT_ID`);
      const client = await core.clients.setEnabled(positionals[0], sub === 'enable');
      await core.audit.record({ type: sub === 'enable' ? 'admin.client.enabled' : 'admin.client.disabled', clientId: client.clientId, details: adminActor() });
      if (values.json) show(client, true, out);
      else out(`${sub}d ${client.clientId}\n`);
      return 0;
    }
    case 'rotate-secret': {
      const { values, positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
      if (positionals.length !== 1) throw new UsageError('clients rotate-secret needs one CLIENT_ID');
      const { client, clientSecret } = await core.clients.rotateSecret(positionals[0]);
      await core.audit.record({ type: 'admin.client.secret_rotated', clientId: client.clientId, details: adminActor() });
      if (values.json) out(`${JSON.stringify({ client_id: client.clientId, client_secret: clientSecret }, null, 2)}\n`);
      else out(`client_id: ${client.clientId}\nclient_secret: ${clientSecret}\n# the old secret no longer works; the new one is shown only now\n`);
      return 0;
    }
    case 'remove': {
      const { positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: {} });
      if (positionals.length !== 1) throw new UsageError('clients remove needs one CLIENT_ID');
      await core.clients.remove(positionals[0]);
      await core.audit.record({ type: 'admin.client.removed', clientId: positionals[0], details: adminActor() });
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

/** Who did it: the CLI and the operating-system user running it. */
function adminActor(): Record<string, string> {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers)
  }
  return { via: 'cli', user };
}

function describe(client: ClientRecord) {
  return {
    client_id: client.clientId,
    client_name: client.name,
    ...(client.logoUri ? { logo_uri: client.logoUri } : {}),
    redirect_uris: [...client.redirectUris],
    post_logout_redirect_uris: [...client.postLogoutRedirectUris],
    token_endpoint_auth_method: client.isPublic ? 'none' : 'client_secret_basic',
    first_party: client.firstParty,
    enabled: client.enabled,
    created_at: new Date(client.createdAt).toISOString(),
  };
}
