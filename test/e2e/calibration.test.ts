import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { chiprig, emulateProcess, FIXTURES, readResults, stationCopy, tmp } from '../support/spawn.ts';

/**
 * Calibration against U2F implementations written elsewhere (docs/calibration.md):
 * google/u2f-ref-code's HIDTest and U2FTest against `chiprig emulate --fifo`, and chiprig's
 * suites (and Google's tests) against libu2f-emu served by scripts/outside's FIFO bridge.
 * The third-party programs are built outside the repository by scripts/outside/build.sh;
 * without them this file skips, saying which variables to set.
 */
const REF_HID = process.env.CHIPRIG_U2F_REF_CODE_HID;
const BRIDGE = process.env.CHIPRIG_LIBU2F_EMU_BRIDGE;
const HOW =
  'build them with `sh scripts/outside/build.sh OUT_DIR --u2f-ref-code DIR --mincrypt DIR --libu2f-emu DIR` ' +
  '(docs/calibration.md), then set CHIPRIG_U2F_REF_CODE_HID=OUT_DIR/u2f-ref-code-hid and ' +
  'CHIPRIG_LIBU2F_EMU_BRIDGE=OUT_DIR/bridge/libu2f-emu-fifo-bridge';

/** Why the programs `needs` are not usable here, or undefined when they are. */
function missing(needs: { ref?: boolean; bridge?: boolean }): string | undefined {
  const why: string[] = [];
  if (needs.ref && !REF_HID) why.push('CHIPRIG_U2F_REF_CODE_HID is not set');
  else if (needs.ref && (!existsSync(join(REF_HID!, 'HIDTest')) || !existsSync(join(REF_HID!, 'U2FTest'))))
    why.push(`CHIPRIG_U2F_REF_CODE_HID=${REF_HID} has no HIDTest and U2FTest`);
  if (needs.bridge && !BRIDGE) why.push('CHIPRIG_LIBU2F_EMU_BRIDGE is not set');
  else if (needs.bridge && !existsSync(BRIDGE!))
    why.push(`CHIPRIG_LIBU2F_EMU_BRIDGE=${BRIDGE} does not exist`);
  return why.length ? why.join('; ') : undefined;
}

/** Skips the enclosing describe, with the reason printed, unless the programs it needs are built. */
function needing(needs: { ref?: boolean; bridge?: boolean }): void {
  before(function () {
    const why = missing(needs);
    if (why) {
      console.log(`      calibration skipped: ${why}; ${HOW}`);
      this.skip();
    }
  });
}

/** One PASS(...) line of a u2f-ref-code test and the CHECK failures printed since the one before. */
interface Step {
  step: string;
  failures: string[];
}

/**
 * Reads a u2f-ref-code test's output (stdout and stderr in one file, in order): each
 * `PASS(x)` closes a step; `CHECK_xx fail at FUNC[LINE]:...` lines before it are its
 * failures, as `FUNC[LINE]`. With -a the program prints PASS even after a failure.
 */
function parseRefOutput(text: string): { steps: Step[]; trailing: string[] } {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colours in the programs' output
  const lines = text.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  const steps: Step[] = [];
  let failures: string[] = [];
  for (const line of lines) {
    const fail = /CHECK_\w+ fail at (\w+\[\d+\])/.exec(line);
    if (fail) failures.push(fail[1]!);
    const pass = /^PASS\((.*)\)$/.exec(line.trim());
    if (pass) {
      steps.push({ step: pass[1]!, failures });
      failures = [];
    }
  }
  return { steps, trailing: failures };
}

/** The steps with failures, as `step: FUNC[LINE], ...`. */
function failed(parsed: { steps: Step[]; trailing: string[] }): string[] {
  const out = parsed.steps
    .filter((s) => s.failures.length > 0)
    .map((s) => `${s.step}: ${s.failures.join(', ')}`);
  if (parsed.trailing.length) out.push(`(after the last PASS): ${parsed.trailing.join(', ')}`);
  return out;
}

/** Runs a u2f-ref-code program on a FIFO device path; stdout and stderr go to one log in order. */
function runRef(
  program: 'HIDTest' | 'U2FTest',
  path: string,
  args: string[],
  log: string,
  timeoutMs = 120_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; text: string }> {
  const fd = openSync(log, 'w');
  const child = spawn(join(REF_HID!, program), [path, ...args], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, text: readFileSync(log, 'utf8') });
    });
  });
}

/** The bridge serving a fresh libu2f-emu at `path`, once it says it serves. */
async function startBridge(
  path: string,
  args: string[] = [],
): Promise<{ child: ChildProcess; output: () => string; stop: () => Promise<void> }> {
  const child = spawn(BRIDGE!, [path, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the bridge did not start: ${out}`)), 10_000);
    const look = () => {
      if (/serving libu2f-emu/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', look);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the bridge exited (${code}): ${out}`));
    });
  });
  return {
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Each test's verdict by catalogue ID: passed, failed, broken, skipped, or advisory (a breach). */
function verdicts(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of readResults(dir)) {
    const id = r.name.split(' ')[0]!;
    const advisory = r.labels.some((l) => l.name === 'tag' && l.value === 'advisory breach');
    out[id] = advisory ? 'advisory' : r.status;
  }
  return out;
}

/**
 * chiprig's verdicts on libu2f-emu, U2F and security suites in one run on one fresh device
 * (docs/calibration.md, table 1). Every failure is traced there to libu2f-emu's source.
 */
const LIBU2F_EMU_U2F: Record<string, string> = {
  'U2F-VER-01': 'passed',
  'U2F-VER-02': 'passed',
  'U2F-VER-03': 'failed',
  'U2F-VER-04': 'passed',
  'U2F-VER-05': 'failed',
  'U2F-VER-07': 'passed',
  'CT-01': 'passed',
  'U2F-INS-01': 'failed',
  'U2F-INS-02': 'advisory',
  'U2F-CLA-01': 'failed',
  'U2F-CLA-02': 'failed',
  'U2F-CLA-03': 'failed',
  'U2F-REG-01': 'failed',
  'U2F-REG-02': 'failed',
  'U2F-REG-04': 'passed',
  'U2F-REG-05': 'passed',
  'U2F-REG-06': 'passed',
  'U2F-REG-07': 'passed',
  'U2F-REG-08': 'passed',
  'U2F-REG-09': 'passed',
  'U2F-REG-12': 'passed',
  'U2F-AUTH-02': 'passed',
  'U2F-AUTH-04': 'failed',
  'U2F-AUTH-05': 'failed',
  'U2F-AUTH-06': 'failed',
  'U2F-AUTH-07': 'passed',
  'U2F-AUTH-08': 'passed',
  'U2F-AUTH-12': 'advisory',
  'U2F-AUTH-13': 'passed',
  'CT-02': 'failed',
  'U2F-CTR-01': 'failed', // little-endian counter (raw/authenticate.c:57)
  'U2F-CTR-02': 'advisory',
  'U2F-CRY-01': 'passed',
  'SEC-KH-01': 'failed',
  'SEC-KH-02': 'failed',
  'SEC-KH-03': 'passed',
  'SEC-KEY-01': 'passed',
  'SEC-NONCE-01': 'passed',
  // Under --presence auto the rig cannot withhold a press, so these are not judged.
  'U2F-REG-03': 'skipped',
  'U2F-REG-10': 'skipped',
  'U2F-AUTH-01': 'skipped',
  'U2F-AUTH-03': 'skipped',
  'U2F-AUTH-09': 'skipped',
  'U2F-AUTH-11': 'skipped',
  'SEC-UP-01': 'skipped',
};

/**
 * CTAPHID cases, each run alone on a fresh libu2f-emu (docs/calibration.md, table 2): a
 * failing case can leave libu2f-emu's single transaction open for good, so in one run the
 * later cases would be judged on a wedged device.
 */
const LIBU2F_EMU_HID: Record<string, string> = {
  'HID-INIT-01': 'passed',
  'HID-INIT-02': 'failed',
  'HID-CID-01': 'failed',
  'HID-PING-01': 'passed',
  'HID-PING-05': 'failed',
  'HID-LEN-01': 'failed',
  'HID-SEQ-01': 'failed',
  'HID-SEQ-04': 'failed',
  'HID-TMO-01': 'failed',
  'HID-CMD-01': 'failed',
};

/** Google's U2FTest -a on a fresh libu2f-emu: the steps that fail and the checks that fail in them. */
const U2FTEST_LIBU2F_EMU = [
  'test_UnknownINS(): test_UnknownINS[98]',
  'test_WrongLength_U2F_VERSION(): test_WrongLength_U2F_VERSION[113], test_WrongLength_U2F_VERSION[114]',
  'test_WrongLength_U2F_REGISTER(): test_WrongLength_U2F_REGISTER[120], test_WrongLength_U2F_REGISTER[121]',
  'test_BadCLA(): test_BadCLA[105], test_BadCLA[107]',
  'test_Enroll(0x6985): test_Enroll[128], test_Enroll[135]',
  'test_Enroll(0x9000): WaitForUserPresence[63]',
  'test_Sign(0x6985): test_Sign[222], test_Sign[231]',
  'test_Sign(0x6a80): test_Sign[222], test_Sign[231]',
  'test_Sign(0x6a80): test_Sign[222], test_Sign[231]',
  'test_Sign(0x6985, true): WaitForUserPresence[63]',
  'test_Sign(0x6985): test_Sign[222], test_Sign[231]',
  'ctr2 = test_Sign(0x9000): WaitForUserPresence[63]',
  'test_Sign(0x6700, false): main[377], test_Sign[222]',
];

describe('calibration against u2f-ref-code and libu2f-emu (docs/calibration.md)', function () {
  this.timeout(600_000);

  describe("Google's HIDTest and U2FTest against chiprig emulate --transport hid --fifo", () => {
    needing({ ref: true });
    it('CAL-01 HIDTest passes every step against the default emulated chip', async () => {
      const dir = tmp();
      const path = join(dir, 'chip-');
      const emu = await emulateProcess(['--transport', 'hid', '--fifo', path]);
      try {
        const r = await runRef('HIDTest', path, [], join(dir, 'HIDTest.log'));
        const parsed = parseRefOutput(r.text);
        assert.deepEqual(failed(parsed), [], r.text);
        assert.equal(r.code, 0, r.text);
        assert.equal(parsed.steps.length, 24, r.text);
      } finally {
        emu.child.kill('SIGTERM');
        await emu.stopped;
      }
    });

    it('CAL-02 U2FTest fails only its truncated key handle step (U2F-AUTH-07, sanctioned 6A80) against the default chip', async () => {
      const dir = tmp();
      const path = join(dir, 'chip-');
      const emu = await emulateProcess(['--transport', 'hid', '--fifo', path]);
      try {
        const r = await runRef('U2FTest', path, ['-a'], join(dir, 'U2FTest.log'));
        assert.deepEqual(
          failed(parseRefOutput(r.text)),
          ['test_Sign(0x6700, false): test_Sign[222]'],
          r.text,
        );
      } finally {
        emu.child.kill('SIGTERM');
        await emu.stopped;
      }
    });

    it("CAL-03 U2FTest passes every step when the chip gives U2F-AUTH-07's other sanctioned answer (6700)", async () => {
      const dir = tmp();
      const path = join(dir, 'chip-');
      const station = stationCopy(dir, (yaml) =>
        yaml.replace(
          '  presenceWindowMs: 10000\n',
          '  presenceWindowMs: 10000\n  disputed:\n    U2F-AUTH-07: wrong-length\n',
        ),
      );
      assert.match(readFileSync(station, 'utf8'), /U2F-AUTH-07: wrong-length/);
      const emu = await emulateProcess(['--transport', 'hid', '--fifo', path, '--station', station]);
      try {
        const r = await runRef('U2FTest', path, [], join(dir, 'U2FTest.log'));
        assert.deepEqual(failed(parseRefOutput(r.text)), [], r.text);
        assert.equal(r.code, 0, r.text);
      } finally {
        emu.child.kill('SIGTERM');
        await emu.stopped;
      }
    });
  });

  describe('chiprig run --device fifo:PATH against libu2f-emu (scripts/outside bridge)', () => {
    needing({ bridge: true });
    it('CAL-04 U2F, security and metadata suites: the documented verdict for every case; its identity read from it', async () => {
      const dir = tmp();
      const path = join(dir, 'emu-');
      const bridge = await startBridge(path);
      try {
        const r = await chiprig([
          'run',
          '--device',
          `fifo:${path}`,
          '--profile',
          'generic-u2f',
          '--transport',
          'hid',
          '--presence',
          'auto',
          '--suite',
          'u2f,security,metadata',
          '--metadata',
          `${FIXTURES}metadata/mitid-chip-statement.json`,
          '--no-html',
          '--results',
          join(dir, 'results'),
        ]);
        assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
        const got = verdicts(join(dir, 'results'));
        // The MitID chip's statement does not describe libu2f-emu: its batch certificate
        // ("CN=U2F emulated") is neither listed nor chained; the rest of the statement fits
        // any U2F key. Its identity is read from it (one registration at the start).
        assert.deepEqual(
          ['KEYID', 'ROOT', 'PROTO', 'ALG', 'ATT', 'HINT'].map((k) => `MDS-${k}-01 ${got[`MDS-${k}-01`]}`),
          [
            'MDS-KEYID-01 failed',
            'MDS-ROOT-01 failed',
            'MDS-PROTO-01 passed',
            'MDS-ALG-01 passed',
            'MDS-ATT-01 passed',
            'MDS-HINT-01 passed',
          ],
        );
        assert.match(
          readFileSync(join(dir, 'results', 'environment.properties'), 'utf8'),
          /^attestation subject=CN\\=U2F emulated$/m,
        );
        const diff = Object.entries(LIBU2F_EMU_U2F)
          .filter(([id, want]) => got[id] !== want)
          .map(([id, want]) => `${id}: documented ${want}, got ${got[id] ?? 'no result'}`);
        assert.deepEqual(diff, [], r.stdout);
        assert.doesNotMatch(bridge.output(), /died of signal/, 'libu2f-emu crashed in the U2F suites');
      } finally {
        await bridge.stop();
      }
    });

    it('CAL-05 CTAPHID cases, each on a fresh libu2f-emu: the documented verdicts; BCNT 7609 and 7610 crash it', async () => {
      const dir = tmp();
      const diff: string[] = [];
      const crashes: string[] = [];
      for (const [id, want] of Object.entries(LIBU2F_EMU_HID)) {
        const path = join(dir, `${id}-`);
        const bridge = await startBridge(path);
        try {
          const results = join(dir, id);
          await chiprig([
            'run',
            '--device',
            `fifo:${path}`,
            '--profile',
            'generic-u2f',
            '--transport',
            'hid',
            '--presence',
            'auto',
            '--suite',
            'hid',
            '--grep',
            `${id} `,
            '--no-html',
            '--results',
            results,
          ]);
          const got = verdicts(results)[id];
          if (got !== want) diff.push(`${id}: documented ${want}, got ${got ?? 'no result'}`);
          if (/died of signal 11/.test(bridge.output())) crashes.push(id);
        } finally {
          await bridge.stop();
        }
      }
      assert.deepEqual(diff, []);
      assert.deepEqual(
        crashes,
        ['HID-PING-05', 'HID-LEN-01'],
        'libu2f-emu dereferences NULL for BCNT > 7550',
      );
    });
    it('CAL-08 chiprig fuzz finds the oversize-INIT crash (a focused campaign) and its replay file crashes a fresh libu2f-emu again', async () => {
      const dir = tmp();
      const path = join(dir, 'emu-');
      const out = join(dir, 'fuzz');
      // --no-restart: the bridge ends with libu2f-emu, so the crash is the device going away.
      let bridge = await startBridge(path, ['--no-restart']);
      let file: string;
      try {
        const found = await chiprig([
          'fuzz',
          ...['--device', `fifo:${path}`, '--rule', 'ctaphid/init-bcnt:over-limit'],
          ...['--cases', '50', '--seed', '1', '--no-html', '--out', out],
        ]);
        // No power switch: found, not confirmed (exit 3); the replay file is the evidence.
        assert.equal(found.code, EXIT.BROKEN, found.stdout + found.stderr);
        const summary = JSON.parse(readFileSync(join(out, 'fuzz-summary.json'), 'utf8'));
        assert.equal(summary.findings[0].kind, 'crash', found.stdout);
        assert.equal(summary.findings[0].messages, 1);
        await bridge.stop();
        assert.match(bridge.output(), /Segmentation fault/, bridge.output());
        file = join(out, 'findings', `${summary.findings[0].id}.json`);
      } finally {
        await bridge.stop();
      }
      bridge = await startBridge(path, ['--no-restart']);
      try {
        const again = await chiprig(['fuzz', '--replay', file]);
        assert.equal(again.code, EXIT.FAILED, again.stdout + again.stderr);
        assert.match(again.stdout, /reproduced: crash/);
        await bridge.stop();
        assert.match(bridge.output(), /Segmentation fault/, bridge.output());
      } finally {
        await bridge.stop();
      }
    });
  });

  describe("Google's HIDTest and U2FTest against libu2f-emu (to compare)", () => {
    needing({ ref: true, bridge: true });
    it('CAL-06 HIDTest stops at test_BasicInit: libu2f-emu answers INIT on an allocated CID on the broadcast CID', async () => {
      const dir = tmp();
      const path = join(dir, 'emu-');
      const bridge = await startBridge(path);
      try {
        const r = await runRef('HIDTest', path, [], join(dir, 'HIDTest.log'));
        assert.equal(r.signal, 'SIGABRT', r.text);
        const parsed = parseRefOutput(r.text);
        assert.deepEqual(
          parsed.steps.map((s) => s.step),
          ['test_Idle()', 'test_Init()'],
          r.text,
        );
        assert.deepEqual(parsed.trailing, ['test_BasicInit[89]'], r.text);
      } finally {
        await bridge.stop();
      }
    });

    it('CAL-07 U2FTest -a: the documented failing steps', async () => {
      const dir = tmp();
      const path = join(dir, 'emu-');
      const bridge = await startBridge(path);
      try {
        const r = await runRef('U2FTest', path, ['-a'], join(dir, 'U2FTest.log'));
        assert.deepEqual(failed(parseRefOutput(r.text)), U2FTEST_LIBU2F_EMU, r.text);
      } finally {
        await bridge.stop();
      }
    });
  });
});
