import Mocha from 'mocha';

const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

/** mocha's spec output, then the plain closing line CI reads: `N passed, N failed, N skipped`. */
export default class SummaryReporter extends Spec {
  constructor(runner: Mocha.Runner, options: Mocha.MochaOptions) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const { passes, failures, pending } = runner.stats ?? { passes: 0, failures: 0, pending: 0 };
      // after Spec's own epilogue, which also listens for the end of the run
      process.nextTick(() => process.stdout.write(`${passes} passed, ${failures} failed, ${pending} skipped\n`));
    });
  }
}
