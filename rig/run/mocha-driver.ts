import AllureMochaReporter from 'allure-mocha';
import Mocha from 'mocha';
import { outcomeOf, type TestRecord } from '../report/console.ts';
import { planIncludes, type TestPlan } from '../report/test-plan.ts';
import type { RunContext } from './context.ts';

/** What the driver tells its caller as the run goes. */
export interface DriverHooks {
  /** A test's result, once the reporter has written it to disk (`index` of `total`). */
  onTest(test: Mocha.Runnable, record: TestRecord, index: number, total: number): void;
  /** After the last test, inside mocha's root afterAll (the Allure reporter still writes). */
  afterAll?(records: readonly TestRecord[]): PromiseLike<void>;
}

/**
 * Runs spec files under mocha with the Allure reporter writing into `resultsDir`, applying
 * `grep` and the test plan, and returns every test's record (hooks that failed included).
 */
export async function runMocha(
  files: readonly string[],
  resultsDir: string,
  run: RunContext,
  select: { grep?: RegExp | undefined; plan?: TestPlan | undefined },
  hooks: DriverHooks,
): Promise<TestRecord[]> {
  // chiprig applies the test plan itself (requirement IDs as well as Allure full names) and
  // drops what it leaves out, so the reporter must not apply it again (it would mark the
  // tests chosen by ID as skipped).
  const planPath = process.env.ALLURE_TESTPLAN_PATH;
  delete process.env.ALLURE_TESTPLAN_PATH;
  const { grep, plan } = select;
  const mocha = new Mocha({
    reporter: AllureMochaReporter as unknown as Mocha.ReporterConstructor,
    reporterOptions: { resultsDir },
    timeout: 10_000,
    ...(grep ? { grep } : {}),
  });
  for (const f of files) mocha.addFile(f);
  try {
    await mocha.loadFilesAsync();
    if (plan) prune(mocha.suite, (test) => planIncludes(plan, test));
    return await runLoaded(mocha, run, grep, hooks);
  } finally {
    if (planPath !== undefined) process.env.ALLURE_TESTPLAN_PATH = planPath;
  }
}

/** Removes the tests `keep` rejects, and the suites left empty. */
function prune(suite: Mocha.Suite, keep: (test: Mocha.Test) => boolean): void {
  suite.tests = suite.tests.filter(keep);
  for (const child of suite.suites) prune(child, keep);
  suite.suites = suite.suites.filter((child) => child.total() > 0);
}

async function runLoaded(
  mocha: Mocha,
  run: RunContext,
  grep: RegExp | undefined,
  hooks: DriverHooks,
): Promise<TestRecord[]> {
  // mocha's own total ignores --grep; count what will run, so progress reads [n/total].
  const matching = (suite: Mocha.Suite): number =>
    suite.tests.filter((t) => !grep || grep.test(t.fullTitle())).length +
    suite.suites.reduce((sum, child) => sum + matching(child), 0);
  const total = matching(mocha.suite);
  const records: TestRecord[] = [];
  if (hooks.afterAll) mocha.suite.afterAll(async () => hooks.afterAll?.(records));
  await new Promise<void>((resolveRun) => {
    const runner = mocha.run(() => resolveRun());
    const ended = new Map<Mocha.Runnable, () => void>();
    const add = (test: Mocha.Test | Mocha.Hook, outcome: TestRecord['outcome'], error?: Error) => {
      const record: TestRecord = {
        area: test.parent?.fullTitle() || '(root)',
        title: test.type === 'hook' ? `${test.title} (hook)` : test.title,
        outcome,
        durationMs: test.duration ?? 0,
        ...(error ? { message: error.message } : {}),
      };
      records.push(record);
      // The report writes a test's result on 'test end' (after pass/fail/pending), so the
      // event waits for that: a test told about is on disk. Hooks have no end.
      const tell = () => hooks.onTest(test, record, records.indexOf(record) + 1, total);
      if (test.type === 'hook') tell();
      else ended.set(test, tell);
    };
    runner.on('test end', (test) => {
      ended.get(test)?.();
      ended.delete(test);
    });
    runner.on('pass', (test) => {
      const breach = run.advisoryBreaches.get(test);
      add(test, breach ? 'advisory' : 'passed', breach ? new Error(breach) : undefined);
    });
    runner.on('fail', (test, error) => add(test, outcomeOf(error), error));
    runner.on('pending', (test) => {
      const reason = run.skipReasons.get(test);
      add(test, 'skipped', reason ? new Error(reason) : undefined);
    });
  });
  return records;
}
