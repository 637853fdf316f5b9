import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../shared/paths.js';
import { generatedDocs } from './pages.js';

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

// `npm run docs`: writes the generated pages (after tsc: the CLI page runs the built CLI)
for (const [path, text] of Object.entries(await generatedDocs())) {
  const file = join(projectRoot, path);
  const changed = read(file) !== text;
  if (changed) writeFileSync(file, text);
  process.stdout.write(`${path}: ${changed ? 'written' : 'unchanged'}\n`);
}
