/**
 * `npm test`: the typecheck, the lint and the test groups, the independent ones side by side.
 * Each group is its own mocha run; its output is printed whole when it ends (mocha's own
 * "N passing / N failing" lines included), so groups never interleave, and a line says when
 * each starts and ends. Every group has a time limit: one that overruns is killed and
 * counts as failed. Exit code: 0 when every group passed, else 1.
 *
 * Phases run one after the other; the groups of a phase run at once (the end-to-end group
 * runs its files four at a time: they mostly wait on the processes they spawn). The suites
 * and end-to-end tests that judge timings run in phases of their own, on a quiet machine.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';

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

const PHASES: Group[][] = [
  // Unit tests (one core; a few check timings of their own, with margins for a busy machine)
  // beside the lint, the typecheck and the build.
  [
    { name: 'lint', args: bin('@biomejs/biome/bin/biome', 'check', '--error-on-warnings', '.') },
    { name: 'build', args: bin('typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', E2E_BUILD) },
    { name: 'typecheck', args: bin('typescript/bin/tsc', '--noEmit') },
    { name: 'unit', args: mocha('--config', '.mocharc.unit.json') },
  ],
  [
    { name: 'e2e', args: mocha('--config', '.mocharc.e2e.json'), env: E2E },
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
    },
  ],
  // The env suite, whose verdicts are measured power and temperature (one core), alone. (The
  // perf suite runs in the last phase, spawned with --strict by test/e2e/perf.test.ts.)
  [{ name: 'suites (env)', args: mocha('--config', '.mocharc.suites-env.json'), env: STRICT }],
  // The end-to-end tests that must run alone: their verdicts rest on measured time or power,
  // or they use pcscd's one vpcd reader (so do unit tests, in the first phase), or, like the
  // BLE run through noble's HCI stack, their link timers trip on a loaded machine.
  [{ name: 'e2e (alone)', args: mocha('--config', '.mocharc.alone.json'), env: E2E }],
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
for (const phase of PHASES) outcomes.push(...(await Promise.all(phase.map(runGroup))));
const failed = outcomes.filter((o) => !o.ok);
process.stdout.write(
  `\ntest groups: ${outcomes.map((o) => `${o.name} ${o.ok ? 'passed' : 'FAILED'} (${(o.ms / 1000).toFixed(0)} s)`).join(', ')}; ${((performance.now() - started) / 1000).toFixed(0)} s in all\n`,
);
process.exitCode = failed.length > 0 ? 1 : 0;
