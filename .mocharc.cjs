// mocha's configuration for `npm test` (the compiled suite in dist/; `npm test` builds it first).
// A .cjs file, not JSON, for one reason: the order of the files. In a parallel run mocha hands the
// files to its workers in the order of `spec`, and a long file that starts last leaves one worker
// running alone at the end. So the slowest files (each 10 to 50 s; `TEST_FILE_TIMES=path npm test`
// measures them) go first and the rest follow in path order: 6 s less of the whole run on the
// project's 2-core machine. A file missing from SLOWEST_FIRST only runs later; none is left out.
//
// Four workers on two cores: a file spends part of its time waiting (for a browser, a child
// process, a timer it set short), and with two workers the CPUs stood idle about a third of the
// run. Measured on that machine from an empty dist/: 2 workers 2m35s, 3 workers 2m05s, 4 workers
// with this order 1m59s.
const { readdirSync } = require('node:fs');
const { join } = require('node:path');

const SUITE = 'dist/test';
const SLOWEST_FIRST = ['e2e/pages', 'e2e/account-page', 'e2e/passkeys', 'e2e/browser', 'e2e/mail-faults', 'e2e/failures', 'e2e/mail-delivery', 'e2e/abuse'].map((name) => `${SUITE}/${name}.test.js`);

function testFiles() {
  try {
    return readdirSync(SUITE, { recursive: true }).filter((file) => file.endsWith('.test.js')).map((file) => join(SUITE, file)).sort();
  } catch {
    return []; // not built yet: mocha then says it found no test files
  }
}

const all = testFiles();

module.exports = {
  spec: [...SLOWEST_FIRST.filter((file) => all.includes(file)), ...all.filter((file) => !SLOWEST_FIRST.includes(file))],
  require: ['dist/test/support/global-fixtures.js'],
  reporter: 'dist/test/support/summary-reporter.js',
  parallel: true,
  jobs: 4,
  timeout: 20000,
  exit: true,
  'enable-source-maps': true,
};
