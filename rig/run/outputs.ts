import { appendFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { attachGlobal, fillSkipReasons, writeEnvironment } from '../report/allure.ts';
import { writeJunit } from '../report/junit.ts';
import { conformanceMatrix, matrixMarkdown, requirementOf } from '../report/matrix.ts';
import type { Station } from '../station/station.ts';
import type { RunListener, RunOutcome, RunStart } from './engine.ts';
import { environmentInfo } from './environment.ts';

export const MATRIX_TITLE = 'Conformance matrix';
/** Beside the Allure results: the matrix as Markdown, and JUnit XML. */
export const MATRIX_FILE = 'conformance-matrix.md';
export const JUNIT_FILE = 'junit.xml';
/** Beside the Allure results: every test's outcome, for scripts (`--repeat` reads it). */
export const OUTCOMES_FILE = 'chiprig-outcomes.json';

/**
 * The run's files beside the Allure results, each written as soon as what it holds is
 * known: the environment at the start (and again with what the suites learnt), the matrix
 * in the report (a global attachment) after the last test, then skip reasons into the
 * results, the matrix as Markdown (and the CI job summary), JUnit XML and the outcomes JSON.
 */
export function resultFiles(): RunListener {
  let start: RunStart | undefined;
  return {
    async onStart(s) {
      start = s;
      writeEnvironment(s.resultsDir, await environmentInfo(s.station, s.strict));
    },
    async afterAll(records) {
      // The matrix in the report too (Allure 3 shows global attachments on the overview).
      await attachGlobal(
        MATRIX_TITLE,
        matrixMarkdown(conformanceMatrix(records), MATRIX_TITLE),
        'text/markdown',
      );
    },
    async onEnd(o: RunOutcome) {
      if (!start) return;
      const dir = o.resultsDir;
      fillSkipReasons(dir);
      // Facts the suites learnt (e.g. a real key's attestation subject) join the environment.
      writeEnvironment(dir, await environmentInfo(start.station, start.strict));
      if (o.matrix.length > 0) {
        const md = matrixMarkdown(o.matrix, `${MATRIX_TITLE}: station ${o.station}, ${o.device}`);
        writeFileSync(join(dir, MATRIX_FILE), `${md}\n`);
        // On GitHub Actions the matrix becomes the job summary.
        const summaryFile = process.env.GITHUB_STEP_SUMMARY;
        if (summaryFile) appendFileSync(summaryFile, `${md}\n\n`);
      }
      writeJunit(join(dir, JUNIT_FILE), o.records, `chiprig ${o.station}`, o.identity);
      writeOutcomes(join(dir, OUTCOMES_FILE), o, start.station);
    },
  };
}

/**
 * `chiprig-outcomes.json`: the run (station, device spec, device identity, start, suites),
 * and each test's requirement ID and transport (as in the matrix), its title and outcome,
 * and the message of a test that did not pass.
 */
function writeOutcomes(path: string, o: RunOutcome, station: Station): void {
  const tests = o.records.map((r) => {
    const req = requirementOf(r);
    return {
      id: req?.id ?? null,
      transport: req?.transport ?? null,
      area: r.area,
      title: r.title,
      outcome: r.outcome,
      ...(r.message && r.outcome !== 'passed' ? { message: r.message } : {}),
    };
  });
  const run = {
    station: o.station,
    device: o.device,
    identity: o.identity,
    suites: o.suites,
    durationMs: Math.round(o.durationMs),
    // The files the run was judged by (chiprig bundle packs them).
    files: {
      station: station.file.path,
      profile: station.profileChoice.path,
      metadata: station.metadataSource?.path ?? null,
      recording: o.recording?.path ?? null,
    },
  };
  writeFileSync(path, `${JSON.stringify({ format: 'chiprig-outcomes/1', run, tests }, null, 2)}\n`);
}

/**
 * Empties a results folder of an earlier run's Allure files, and only those: a mistyped
 * --results must never cost a lab engineer a folder.
 */
export function clearResults(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) {
    if (
      /-(result|container|perf|globals)\.json$|-attachment(\.\w+)?$|^environment\.properties$|^chiprig-measurements\.json$|^chiprig-outcomes\.json$|^conformance-matrix\.md$|^junit\.xml$/.test(
        name,
      )
    ) {
      rmSync(join(dir, name), { force: true });
    }
  }
}

/** The matrix rows of a run's records (re-exported for listeners that print it). */
export { conformanceMatrix };
