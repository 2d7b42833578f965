import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TRANSPORT_NAMES, transportKinds, transportLetter } from '../../transport/kinds.ts';
import { linkKind, registerLinkKind } from './index.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const LOOP_MODULE = join(ROOT, 'test/support/loop-link.ts');

describe('transport link registry', () => {
  it('knows the three built-in kinds, in order, with their names and catalogue letters', () => {
    assert.deepEqual(transportKinds().slice(0, 3), ['hid', 'nfc', 'ble']);
    assert.deepEqual(
      ['hid', 'nfc', 'ble'].map((k) => [TRANSPORT_NAMES[k], transportLetter(k), linkKind(k).kind]),
      [
        ['USB HID', 'H', 'hid'],
        ['NFC', 'N', 'nfc'],
        ['Bluetooth LE', 'B', 'ble'],
      ],
    );
  });

  it('refuses a kind whose catalogue letter another kind has, and names an unknown kind', () => {
    assert.throws(
      () =>
        registerLinkKind({
          kind: 'usb-clone',
          name: 'USB clone',
          letter: 'H',
          serves: () => false,
          create: () => {
            throw new Error('never');
          },
        }),
      /letter H is hid's/,
    );
    assert.throws(
      () => linkKind('smoke-signal'),
      /no link module for transport "smoke-signal" \(known: hid, nfc, ble/,
    );
  });

  it('a fourth kind registered through the registry alone runs the U2F suite, with its own matrix column', async function () {
    this.timeout(120_000);
    const dir = mkdtempSync(join(tmpdir(), 'chiprig-loop-'));
    const fixtures = join(ROOT, 'fixtures/');
    const station = join(dir, 'station.yaml');
    const yaml = readFileSync(join(fixtures, 'stations/emulated.yaml'), 'utf8').replaceAll('../', fixtures);
    assert.match(yaml, /transports: \[hid, nfc, ble\]/);
    writeFileSync(station, yaml.replace('transports: [hid, nfc, ble]', 'transports: [loop]'));
    // A program that adds the kind and runs, as a lab's own tooling would: nothing else in
    // the rig is told about it.
    const script = join(dir, 'run-loop.mts');
    writeFileSync(
      script,
      [
        `import ${JSON.stringify(LOOP_MODULE)};`,
        `import { run } from ${JSON.stringify(join(ROOT, 'rig/cli/run.ts'))};`,
        `process.exitCode = await run({ station: ${JSON.stringify(station)}, suite: 'u2f', results: ${JSON.stringify(join(dir, 'r'))}, report: ${JSON.stringify(join(dir, 'h'))}, html: false });`,
      ].join('\n'),
    );
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', script],
        { timeout: 100_000, env: { ...process.env, CHIPRIG_QUIET_SKIPS: '1' }, maxBuffer: 16 << 20 },
        (error, out) => resolve({ code: error ? Number(error.code ?? -1) : 0, stdout: out }),
      ),
    );
    assert.equal(code, 0, stdout.slice(-3000));
    const areas = [...stdout.matchAll(/^(\S[^\n]*?) {2,}(\d+) +(\d+) +(\d+) +(\d+) +(\d+)$/gm)].filter(
      (m) => m[1] !== 'area' && m[1] !== 'total',
    );
    assert.ok(areas.length >= 4, `per-area summary lines in:\n${stdout.slice(-2000)}`);
    for (const m of areas) assert.match(m[1]!, /^Loopback · U2F /, 'every area is over the fourth kind');
    const passed = areas.reduce((n, m) => n + Number(m[2]), 0);
    assert.ok(passed >= 25, `U2F cases passed over the loopback kind: ${passed}`);
    const matrix = readFileSync(join(dir, 'r', 'conformance-matrix.md'), 'utf8');
    assert.match(matrix, /\| requirement \| strength \| Loopback \|/);
    assert.match(matrix, /\| U2F-VER-01 \| required \| passed \|/);
  });
});
