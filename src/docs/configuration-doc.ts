import { settingDocs, settingsSchema, type SettingGroup, type Settings } from '../config/settings.js';

const GROUPS: Record<SettingGroup, string> = {
  server: 'Server',
  storage: 'Storage',
  secrets: 'Secrets',
  mail: 'Mail',
  'sign-in': 'Sign-in',
  'rate-limits': 'Rate limits',
  branding: 'Branding',
  protocol: 'Keys and protocol',
  operations: 'Operations endpoints',
};

const HEADER = `# Configuration reference

<!-- Generated from src/config/settings.ts by \`npm run docs\` (src/docs/generate.ts): edit that file, not this one. -->

Settings come from environment variables. The same names may be put in a JSON file,
\`config/sesame.json\` by default or the file named by \`SESAME_CONFIG\` (see
\`config/sesame.example.json\`); the environment wins over the file. Invalid values stop the process
before it listens, with one message naming every problem at once. An environment variable that is
not a setting but nearly is one (\`RATE_LIMIT_EMAL\`) is a problem too, named with the setting it was
probably meant to be; other variables (\`HOME\`, \`PATH\`, \`npm_…\`) are ignored.

The mode is not a setting: it is the command. \`sesame serve\` is production and requires \`ISSUER\`
(https), \`COOKIE_KEYS\`, \`HMAC_SECRETS\`, \`SMTP_URL\` and \`MAIL_FROM\`; \`sesame dev\` (what \`npm start\`
runs) is development and fills in what the table says. \`NODE_ENV\` has no effect. The other commands
(\`sesame clients\`, \`accounts\`, …) read the same settings; see [the CLI](cli.md).

Rates are written \`COUNT/SECONDS\` (\`3/900\`: at most 3 per 15 minutes; the window is at most
86400 seconds), or \`off\`. Booleans are \`true\`/\`false\` (also \`1\`/\`0\`, \`yes\`/\`no\`); lists are
comma-separated.
`;

/** A duration in seconds as people say it, for the defaults of *_SECONDS settings. */
function humanSeconds(value: number): string | undefined {
  const units: [number, string][] = [[86_400, 'day'], [3600, 'hour'], [60, 'minute']];
  for (const [size, unit] of units) {
    if (value >= size && value % size === 0) return `${value / size} ${unit}${value === size ? '' : 's'}`;
  }
  return undefined;
}

/** The default written in the schema (`.default(…)`), found through optional, pipe and transform wrappers. */
export function schemaDefault(schema: unknown): unknown {
  const def = (schema as { _zod: { def: { type: string; defaultValue?: unknown; in?: unknown; innerType?: unknown } } })._zod.def;
  if (def.type === 'default') return def.defaultValue;
  if (def.type === 'pipe') return schemaDefault(def.in);
  if (def.innerType) return schemaDefault(def.innerType);
  return undefined;
}

function defaultCell(name: keyof Settings): string {
  const doc = settingDocs[name];
  if (doc.unset) return doc.unset;
  const value = schemaDefault(settingsSchema.shape[name]);
  if (value === undefined) return 'none';
  const human = typeof value === 'number' && name.endsWith('_SECONDS') ? humanSeconds(value) : undefined;
  return `\`${String(value)}\`${human ? ` (${human})` : ''}`;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** docs/configuration.md: every setting of src/config/settings.ts, by group, in the schema's order. */
export function renderConfigurationDoc(): string {
  const names = Object.keys(settingsSchema.shape) as (keyof Settings)[];
  const parts = [HEADER];
  for (const [group, title] of Object.entries(GROUPS)) {
    const inGroup = names.filter((name) => settingDocs[name].group === group);
    if (!inGroup.length) continue;
    parts.push(`\n## ${title}\n\n| Setting | Default | Meaning |\n|---|---|---|\n`);
    for (const name of inGroup) parts.push(`| \`${name}\` | ${cell(defaultCell(name))} | ${cell(settingDocs[name].about)} |\n`);
  }
  return parts.join('');
}
