import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { projectRoot } from '../../src/shared/paths.js';

const dist = join(projectRoot, 'dist', 'src');

/** What a CLI command that works on the database must not load: the server and its libraries. */
const SERVER_ONLY = /^(koa|@koa\/.*|oidc-provider|@simplewebauthn\/server|nodemailer|prom-client)$/;

/** The static imports of a compiled module and, through them, of everything it loads (dynamic `import()` left out). */
function staticGraph(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    for (const [, from, bare] of source.matchAll(/^(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]|^import\s+['"]([^'"]+)['"]/gm)) {
      const specifier = from ?? bare;
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier));
      else if (!specifier.startsWith('node:')) packages.add(specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/'));
    }
  };
  visit(entry);
  return { files: [...files].map((file) => relative(dist, file)), packages: [...packages] };
}

describe('what the CLI loads', () => {
  // each with a module and a package it does load, to show that the imports are read at all
  const entries = [
    { entry: 'core.js', loads: 'store/db.js', package: 'knex' },
    { entry: 'cli/main.js', loads: 'config/settings.js', package: 'zod' },
  ];
  for (const { entry, loads, package: name } of entries) {
    it(`${entry} loads neither the server nor its libraries until a command needs them`, () => {
      const { files, packages } = staticGraph(join(dist, entry));
      expect(files).to.include(loads);
      expect(packages).to.include(name);
      expect(packages.filter((pkg) => SERVER_ONLY.test(pkg))).to.deep.equal([]);
      expect(files.filter((file) => file === 'main.js' || file.startsWith('http/'))).to.deep.equal([]);
    });
  }

  it('the server loads @simplewebauthn/server with the first passkey ceremony, not at start', () => {
    const { files, packages } = staticGraph(join(dist, 'main.js'));
    expect(files).to.include('passkeys/passkey-service.js');
    expect(packages).to.include('knex').and.not.include('@simplewebauthn/server');
  });
});
