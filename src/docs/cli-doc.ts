import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { commandsOf } from '../cli/usage.js';
import { projectRoot } from '../shared/paths.js';

const run = promisify(execFile);

/** The built CLI, as operators run it. */
export const cliPath = join(projectRoot, 'dist', 'src', 'cli', 'main.js');

const HEADER = `# The \`sesame\` command

<!-- Generated from the CLI's own usage text (\`sesame help\`, \`sesame COMMAND --help\`) by \`npm run docs\`
(src/docs/generate.ts): change the usage text in src/cli/, not this file. -->

\`npx sesame <command>\` in a checkout (after \`npm ci\`, which builds it), or
\`node dist/src/cli/main.js <command>\`. Every command reads the same [configuration](configuration.md)
as the server, so run it with the server's environment (\`DATABASE_URL\`, \`HMAC_SECRETS\`, …). The
commands other than \`serve\` and \`dev\` need no issuer or SMTP, but the server's \`COOKIE_KEYS\` and
\`HMAC_SECRETS\`: from the environment, or else the development secrets that \`sesame dev\` keeps in
\`DATA_DIR\`; they never make new ones.

Exit codes: 0 success, 1 refused (the message says why), 2 usage or configuration error.
\`sesame COMMAND --help\` shows one command's usage; \`sesame --version\` the version.

What the commands are for, in context: [registering apps](connecting-apps/README.md),
[accounts](accounts.md), [admin tokens](admin-api.md), [signing keys, audit and operations](production.md).
`;

async function cli(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [cliPath, ...args], { cwd: projectRoot, env: { PATH: process.env.PATH } });
  return stdout;
}

const block = (text: string) => `\`\`\`text\n${text.replace(/\s+$/, '')}\n\`\`\`\n`;

/** docs/cli.md: the whole usage, then each command's own help, exactly as the CLI prints them. */
export async function renderCliDoc(): Promise<string> {
  const usage = await cli(['help']);
  const commands = commandsOf(usage).filter((name) => name !== 'help');
  const helps = await Promise.all(commands.map((command) => cli([command, '--help'])));
  const sections = commands.map((command, i) => `\n## \`sesame ${command}\`\n\n${block(helps[i])}`);
  return [HEADER, `\n## Usage\n\n${block(usage)}`, ...sections].join('');
}
