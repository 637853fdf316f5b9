import { expect } from 'chai';
import { flagGiven, SEMI_SPACE_FLAG, workerExecArgv } from '../../src/cli/memory.js';

describe('heap tuning of serving processes', () => {
  it('recognises a V8 flag however the operator spelled it, and only that flag', () => {
    expect(flagGiven(SEMI_SPACE_FLAG, ['--max-semi-space-size=32'])).to.equal(true);
    expect(flagGiven(SEMI_SPACE_FLAG, ['--max_semi_space_size=32'])).to.equal(true);
    expect(flagGiven(SEMI_SPACE_FLAG, ['--max-semi-space-size'])).to.equal(true);
    expect(flagGiven(SEMI_SPACE_FLAG, ['--min-semi-space-size=4', '--max-old-space-size=512'])).to.equal(false);
    expect(flagGiven(SEMI_SPACE_FLAG, ['max-semi-space-size=32'])).to.equal(false);
  });

  it("gives workers the supervisor's flags plus the semi-space limit, unless the operator set one", () => {
    expect(workerExecArgv(['--enable-source-maps'], undefined)).to.deep.equal(['--enable-source-maps', SEMI_SPACE_FLAG]);
    expect(workerExecArgv(['--max-semi-space-size=64'], undefined)).to.deep.equal(['--max-semi-space-size=64']);
    expect(workerExecArgv([], '--max-semi-space-size=64')).to.deep.equal([]);
  });
});
