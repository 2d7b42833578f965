/**
 * `npm test`: the typecheck, the lint and the test groups, the independent ones side by side.
 * Each group is its own mocha run; its output is printed whole when it ends (mocha's own
 * "N passing / N failing" lines included), so groups never interleave, and a line says when
 * each starts and ends. Every group has a time limit: one that overruns is killed and
 * counts as failed. Exit code: 0 when every group passed, else 1.
 *
 * Each group starts when the groups it waits for have ended (GROUPS). The suites and
 * end-to-end tests that judge timings run at the end, alone, on a quiet machine.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';

interface Group {
  name: string;
  args: string[];
  env?: Record<string, string>;
}

const mocha = (...args: string[]) => ['node_modules/mocha/bin/mocha.js', ...args];

/** Advisory breaches fail, as under chiprig run --strict. */
const STRICT = { CHIPRIG_STRICT: '1' };

const bin = (name: string, ...args: string[]) => [`node_modules/${name}`, ...args];

/**
 * The end-to-end tests spawn chiprig dozens of times. They spawn a build of the sources
 * (the same tsc build as the package's, into a folder of its own, so the package test's
 * `npm pack` may rebuild dist/ meanwhile): a spawned run then starts in about 1 s of CPU
 * instead of 2 s through tsx. The README's own command (bin/chiprig.js, through tsx) is
 * run by CI, and bin/chiprig.js by the package test.
 */
const E2E_BUILD = 'dist-e2e';
const E2E = { CHIPRIG_TEST_ENTRY: `${E2E_BUILD}/rig/cli/main.js` };

/** The longest end-to-end files, started first so four at a time pack into less wall time. */
const E2E_LONGEST = [
  'faults',
  'cli',
  'interop',
  'serve-browser',
  'fifo-outcomes',
  'robustness',
  'package',
  'results',
  'serve',
];

/**
 * The end-to-end files the 'e2e' group runs: those of .mocharc.e2e.json (every file under
 * test/e2e less its ignore list: the ones run alone, the recording test), longest first.
 * Named one by one: mocha runs a file twice when it is named and also matched by a glob.
 */
function e2eFiles(): string[] {
  const config = JSON.parse(readFileSync('.mocharc.e2e.json', 'utf8')) as { ignore: string[] };
  const all = readdirSync('test/e2e')
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => `test/e2e/${f}`)
    .filter((f) => !config.ignore.includes(f))
    .sort();
  const rank = (f: string) => {
    const i = E2E_LONGEST.indexOf(f.slice('test/e2e/'.length, -'.test.ts'.length));
    return i < 0 ? E2E_LONGEST.length : i;
  };
  return all.sort((a, b) => rank(a) - rank(b));
}

const LINT = { name: 'lint', args: bin('@biomejs/biome/bin/biome', 'check', '--error-on-warnings', '.') };
const BUILD = {
  name: 'build',
  args: bin('typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', E2E_BUILD),
};
const TYPECHECK = { name: 'typecheck', args: bin('typescript/bin/tsc', '--noEmit') };
// Unit tests: one core; a few check timings of their own, with margins for a busy machine.
const UNIT = { name: 'unit', args: mocha('--config', '.mocharc.unit.json') };

/**
 * The longest end-to-end file (a run recorded, then replayed in its recorded time): it starts
 * as soon as the build is there, beside the unit tests, and runs on through the next phase.
 */
const RECORDING = {
  name: 'e2e (recording)',
  args: mocha('--import=tsx', '--timeout', '20000', 'test/e2e/recording.test.ts'),
  env: E2E,
};

/**
 * Each group starts once the groups it names have ended; groups whose turn has come run at
 * once (the end-to-end group runs its files four at a time: they mostly wait on the
 * processes they spawn).
 */
const GROUPS: (Group & { after: string[] })[] = [
  { ...LINT, after: [] },
  { ...BUILD, after: [] },
  { ...TYPECHECK, after: [] },
  { ...UNIT, after: [] },
  { ...RECORDING, after: ['build'] },
  {
    name: 'e2e',
    args: mocha('--import=tsx', '--parallel', '--jobs', '4', '--timeout', '20000', ...e2eFiles()),
    env: E2E,
    after: ['lint', 'build', 'typecheck', 'unit'],
  },
  {
    name: 'suites',
    args: mocha(
      '--config',
      '.mocharc.suites.json',
      '--ignore',
      'suites/perf/**',
      '--ignore',
      'suites/env/**',
    ),
    env: STRICT,
    // They judge no timing and use no vpcd reader: they start beside the unit tests.
    after: ['build'],
  },
  // The env suite, whose verdicts are measured power and temperature (one core), alone. (The
  // perf suite runs in the last group, spawned with --strict by test/e2e/perf.test.ts.)
  {
    name: 'suites (env)',
    args: mocha('--config', '.mocharc.suites-env.json'),
    env: STRICT,
    after: ['e2e', 'suites', 'e2e (recording)'],
  },
  // The end-to-end tests that must run alone, one after the other: their verdicts rest on
  // measured time or power, or they use pcscd's one vpcd reader (so do unit tests, which end
  // before), or, like the BLE run through noble's HCI stack, their link timers trip on a
  // loaded machine.
  { name: 'e2e (alone)', args: mocha('--config', '.mocharc.alone.json'), env: E2E, after: ['suites (env)'] },
];

const LIMIT_MS = 20 * 60_000;

function runGroup(group: Group): Promise<{ name: string; ok: boolean; ms: number }> {
  const started = performance.now();
  process.stdout.write(`test group ${group.name}: started\n`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, group.args, {
      env: { ...process.env, ...group.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => chunks.push(d));
    const timer = setTimeout(() => {
      chunks.push(Buffer.from(`\ntest group ${group.name}: killed after ${LIMIT_MS / 60_000} min\n`));
      child.kill('SIGKILL');
    }, LIMIT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      process.stdout.write(`\n===== test group ${group.name} =====\n`);
      process.stdout.write(Buffer.concat(chunks));
      const ok = code === 0;
      process.stdout.write(
        `test group ${group.name}: ${ok ? 'passed' : `FAILED (${signal ?? `exit ${code}`})`} in ${(ms / 1000).toFixed(0)} s\n`,
      );
      resolve({ name: group.name, ok, ms });
    });
  });
}

const started = performance.now();
rmSync(E2E_BUILD, { recursive: true, force: true });
const outcomes: { name: string; ok: boolean; ms: number }[] = [];
const ended = new Map<string, Promise<void>>();
for (const group of GROUPS) {
  const before = group.after.map((name) => {
    const done = ended.get(name);
    if (!done) throw new Error(`test group ${group.name}: "${name}" is not an earlier group`);
    return done;
  });
  ended.set(
    group.name,
    Promise.all(before).then(async () => {
      outcomes.push(await runGroup(group));
    }),
  );
}
await Promise.all(ended.values());
const failed = outcomes.filter((o) => !o.ok);
process.stdout.write(
  `\ntest groups: ${outcomes.map((o) => `${o.name} ${o.ok ? 'passed' : 'FAILED'} (${(o.ms / 1000).toFixed(0)} s)`).join(', ')}; ${((performance.now() - started) / 1000).toFixed(0)} s in all\n`,
);
process.exitCode = failed.length > 0 ? 1 : 0;
