/**
 * JUnit XML beside the Allure results, for CI systems and lab tools that read nothing else.
 * A failed test (the device broke a requirement) is a <failure>, a broken one (rig, link or
 * instrument) an <error>, so the two stay apart here too. Built with junit-report-builder.
 */
import junitModule, { type Builder } from 'junit-report-builder';
import type { TestRecord } from './console.ts';

// The package is CommonJS whose module.exports is the builder; its types describe it as an
// ES default export, which TypeScript's node16 resolution reads as the module itself.
const junit = junitModule as unknown as Builder;

/**
 * `identity`: which device (rig/station/identity.ts), as properties of every test suite
 * and of every test case (lab tools read either), names prefixed "device: ".
 */
export function writeJunit(
  path: string,
  records: readonly TestRecord[],
  suiteName: string,
  identity: Record<string, string> = {},
): void {
  const builder = junit.newBuilder();
  const suites = new Map<string, ReturnType<typeof builder.testSuite>>();
  const properties = Object.entries(identity).map(([k, v]) => [`device: ${k}`, v] as const);
  for (const r of records) {
    let suite = suites.get(r.area);
    if (!suite) {
      suite = builder.testSuite().name(`${suiteName}: ${r.area}`);
      for (const [k, v] of properties) suite.property(k, v);
      suites.set(r.area, suite);
    }
    const test = suite
      .testCase()
      .className(r.area)
      .name(r.title)
      .time(r.durationMs / 1000);
    for (const [k, v] of properties) test.property(k, v);
    if (r.outcome === 'failed') test.failure(r.message ?? 'failed', 'device failure');
    else if (r.outcome === 'broken') test.error(r.message ?? 'broken', 'rig, link or instrument fault');
    else if (r.outcome === 'advisory') {
      // Not a <failure>: an advisory breach does not fail the run (unless --strict, where it
      // is a failure). Marked by a property and the breach on standard output.
      test.property('outcome', 'advisory');
      test.standardOutput(`advisory breach (stricter than every official tool): ${r.message ?? ''}`);
    } else if (r.outcome === 'skipped') {
      test.skipped();
      if (r.message) test.standardOutput(`skipped: ${r.message}`);
    }
  }
  builder.writeTo(path);
}
