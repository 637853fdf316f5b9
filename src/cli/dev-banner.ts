const LINES = [
  'DEVELOPMENT MODE (sesame dev): DO NOT USE IN PRODUCTION',
  '',
  'Secrets generated and kept in DATA_DIR/dev-secrets.json, mail printed to',
  'the console without SMTP_URL, the demo app at /demo, calls to loopback and',
  'private addresses allowed, /metrics open without METRICS_TOKEN.',
  'Production: npm run build, then sesame serve (it needs ISSUER, COOKIE_KEYS,',
  'HMAC_SECRETS, SMTP_URL and MAIL_FROM).',
];
const WIDTH = Math.max(...LINES.map((line) => line.length));

/** Printed once when `sesame dev` starts, before anything else, so nobody mistakes it for production. */
export const DEV_BANNER = [
  '',
  `  ┌${'─'.repeat(WIDTH + 4)}┐`,
  ...LINES.map((line) => `  │  ${line.padEnd(WIDTH)}  │`),
  `  └${'─'.repeat(WIDTH + 4)}┘`,
  '',
  '',
].join('\n');
