/**
 * Test selection by Allure test plan (ALLURE_TESTPLAN_PATH), how CI shards a run: a JSON
 * file `{"version": "1.0", "tests": [{"id"?, "selector"?}]}`. A test runs when a `selector`
 * is its Allure full name (as allure-mocha writes it: "project:file: suite > title") or an
 * `id` is its requirement ID (e.g. "U2F-REG-04": that requirement on every transport; a
 * series such as "ENV-TEMP": each of its cases; an ID not in the requirements file is a
 * configuration error). An
 * empty list runs everything, as in Allure. A plan that is named but missing or unreadable
 * is a configuration error: a shard must never silently run the whole set.
 */
import { readFileSync } from 'node:fs';
import { getPosixPath, getProjectName, getRelativePath } from 'allure-js-commons/sdk/reporter';
import { ConfigError } from '../errors.ts';
import { REQUIREMENTS_FILE, requirements } from '../requirements/requirements.ts';

export interface TestPlan {
  path: string;
  ids: ReadonlySet<string>;
  selectors: ReadonlySet<string>;
}

export function readTestPlan(path: string | undefined): TestPlan | undefined {
  if (!path) return undefined;
  let plan: { version?: unknown; tests?: unknown };
  try {
    plan = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(
      `ALLURE_TESTPLAN_PATH ${path}: cannot read the test plan (${(error as Error).message})`,
      {
        cause: error,
      },
    );
  }
  if (plan.version !== '1.0') {
    throw new ConfigError(
      `ALLURE_TESTPLAN_PATH ${path}: test plan version ${JSON.stringify(plan.version)}, expected "1.0"`,
    );
  }
  const tests = Array.isArray(plan.tests) ? (plan.tests as { id?: unknown; selector?: unknown }[]) : [];
  if (tests.length === 0) return undefined;
  const ids = new Set(
    tests
      .map((t) => t.id)
      .filter((v) => v !== undefined && v !== null)
      .map(String),
  );
  // An ID must name a requirement (fixtures/requirements.yaml) or a scenario case: a typo
  // would otherwise select nothing and the shard would pass empty.
  const reqs = requirements();
  const unknown = [...ids].filter((id) => !id.startsWith('SCN-') && !reqs.get(id));
  if (unknown.length > 0) {
    throw new ConfigError(
      `ALLURE_TESTPLAN_PATH ${path}: ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not in the requirements file ${REQUIREMENTS_FILE} (check the ID; scenario cases start with SCN-)`,
    );
  }
  const selectors = new Set(tests.map((t) => t.selector).filter((v): v is string => typeof v === 'string'));
  return { path, ids, selectors };
}

/** The Allure full name of a mocha test, computed as allure-mocha does. */
export function allureFullName(test: { file?: string | undefined; titlePath(): string[] }): string {
  const titlePath = test.titlePath().join(' > ');
  const base = test.file ? `${getPosixPath(getRelativePath(test.file))}: ${titlePath}` : titlePath;
  const project = getProjectName();
  return project ? `${project}:${base}` : base;
}

export function planIncludes(
  plan: TestPlan,
  test: { file?: string | undefined; title: string; titlePath(): string[] },
): boolean {
  const id = /^([A-Z0-9]+(?:-[A-Z0-9]+)+)\s/.exec(test.title)?.[1];
  // A series entry (ENV-TEMP) selects each of its numbered cases.
  const entry = id === undefined ? undefined : requirements().get(id)?.id;
  return (
    (id !== undefined && (plan.ids.has(id) || (entry !== undefined && plan.ids.has(entry)))) ||
    plan.selectors.has(allureFullName(test))
  );
}
