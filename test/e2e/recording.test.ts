import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { chiprig, FIXTURES, readResults, tmp } from '../support/spawn.ts';

/**
 * Issue 10, interoperability: the emulated chip served to outside tools over the FIFO
 * protocol of u2f-ref-code's HID tests, driven by chiprig's own FIFO client in another
 * process; and runs recorded on one station replayed on another.
 */

const idOf = (r: ReturnType<typeof readResults>[number]) =>
  r.labels.find((l) => l.name === 'catalogueId')?.value ?? '';
const paramOf = (r: ReturnType<typeof readResults>[number], name: string) =>
  r.parameters.find((p) => p.name === name)?.value;

describe('Recorded traffic: chiprig run --record FILE, --device replay:FILE', function () {
  this.timeout(600_000);

  it('REC-01 a run recorded on the default station replays on the lab station with identical verdicts per test', async () => {
    const dir = tmp();
    const file = join(dir, 'chip.jsonl');
    const suites = 'hid,u2f,security,nfc,ble';
    const recorded = await chiprig([
      'run',
      '--device',
      'emulator:wrong-flags',
      '--suite',
      suites,
      '--record',
      file,
      '--results',
      join(dir, 'recorded'),
      '--no-html',
    ]);
    assert.equal(recorded.code, EXIT.FAILED, `${recorded.stdout.slice(-3000)}\n${recorded.stderr}`);
    assert.match(recorded.stdout, /recording: .*chip\.jsonl \(\d+ exchange lines\)/);

    // The documented format: a header, then lines with test, transport, direction, time, bytes.
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const header = lines[0];
    assert.equal(header.format, 'chiprig-recording');
    assert.equal(header.version, 1);
    assert.deepEqual(header.transports, ['hid', 'nfc', 'ble']);
    assert.match(header.seed, /^[0-9a-f]{64}$/);
    const exchanges = lines.filter((l) => l.dir === 'send' || l.dir === 'recv');
    for (const transport of ['hid', 'nfc', 'ble']) {
      assert.ok(
        exchanges.some(
          (l) => l.transport === transport && l.dir === 'send' && /^[0-9a-f]+$/.test(l.hex ?? ''),
        ),
        `bytes sent over ${transport}`,
      );
    }
    assert.ok(
      lines.some((l) => l.dir === 'event' && l.op === 'notify'),
      'BLE notifications are events',
    );
    for (const l of exchanges.slice(0, 200)) {
      assert.equal(typeof l.t, 'number');
      assert.ok('test' in l && typeof l.call === 'number');
    }
    const results = lines.filter((l) => 'result' in l);
    assert.ok(results.some((l) => l.result === 'failed' && l.test.includes('U2F-AUTH-08')));

    const replayed = await chiprig([
      'run',
      '--station',
      join(FIXTURES, 'stations/emulated-lab.yaml'),
      '--device',
      `replay:${file}`,
      '--results',
      join(dir, 'replayed'),
      '--no-html',
    ]);
    assert.equal(replayed.code, EXIT.FAILED, `${replayed.stdout.slice(-3000)}\n${replayed.stderr}`);
    const verdicts = (d: string) =>
      new Map(
        readResults(join(dir, d)).map((t) => [`${paramOf(t, 'transport')} ${t.name}`, t.status] as const),
      );
    const before = verdicts('recorded');
    const after = verdicts('replayed');
    assert.ok(before.size >= 200, `only ${before.size} tests recorded`);
    assert.deepEqual([...after.entries()].sort(), [...before.entries()].sort());
    assert.match(
      replayed.stdout,
      new RegExp(`replay: ${before.size} of ${before.size} verdicts as recorded`),
    );
    // The replay ran on the lab station and named the recording's origin.
    assert.match(replayed.stdout, /station "emulated-lab", device replay:/);
    assert.match(replayed.stdout, /recorded .* on station "emulated", device emulator:wrong-flags/);
  });

  it('REC-02 a replay whose host asks for other bytes breaks that test, naming the line; the others keep their verdicts', async () => {
    const dir = tmp();
    const file = join(dir, 'u2f.jsonl');
    const args = ['--suite', 'u2f', '--transport', 'hid', '--no-html'];
    const rec = await chiprig(['run', ...args, '--record', file, '--results', join(dir, 'a')]);
    assert.equal(rec.code, EXIT.PASSED, rec.stdout.slice(-2000));
    // Change one byte the host sent in U2F-VER-01: the replaying host sends the original.
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const at = lines.findIndex((l) => {
      const j = JSON.parse(l);
      return j.dir === 'send' && j.op === 'write' && String(j.test).includes('U2F-VER-01');
    });
    assert.ok(at > 0, 'U2F-VER-01 wrote a report');
    const line = JSON.parse(lines[at]!);
    line.hex = `${line.hex.slice(0, 20)}${line.hex[20] === '0' ? '1' : '0'}${line.hex.slice(21)}`;
    lines[at] = JSON.stringify(line);
    writeFileSync(file, `${lines.join('\n')}\n`);

    const r = await chiprig(['run', '--device', `replay:${file}`, '--results', join(dir, 'b'), '--no-html']);
    assert.equal(r.code, EXIT.BROKEN, r.stdout.slice(-3000));
    const broken = readResults(join(dir, 'b')).filter((t) => t.status !== 'passed' && t.status !== 'skipped');
    assert.deepEqual(broken.map(idOf), ['U2F-VER-01']);
    assert.match(broken[0]!.statusDetails?.message ?? '', new RegExp(`replay diverged .*line ${at + 1}`));
    assert.match(r.stdout, /differs: .*U2F-VER-01.*recorded passed, replayed broken/);
  });

  it('REC-03 a malformed recording is refused with its line number (exit 2), before anything runs', async () => {
    const dir = tmp();
    const rec = join(dir, 'r.jsonl');
    const header = {
      format: 'chiprig-recording',
      version: 1,
      startedAt: 'x',
      chiprig: '0',
      host: 'h',
      station: 's',
      device: 'emulator',
      transports: ['hid'],
      presence: 'actuator',
      emulated: true,
      canPowerCycle: true,
      canSetPairingMode: false,
      seed: '00'.repeat(32),
      suites: ['u2f'],
      grep: null,
    };
    const good = { t: 1, test: null, transport: 'hid', dir: 'send', op: 'open', call: 1 };
    writeFileSync(rec, [header, good, { ...good, dir: 'sideways' }].map((l) => JSON.stringify(l)).join('\n'));
    let r = await chiprig(['run', '--device', `replay:${rec}`, '--no-html', '--results', dir]);
    assert.equal(r.code, EXIT.USAGE, r.stderr);
    assert.match(r.stderr, /recording .*r\.jsonl:3: field "dir"/);

    writeFileSync(rec, `${JSON.stringify({ ...header, version: 7 })}\n`);
    r = await chiprig(['run', '--device', `replay:${rec}`, '--no-html', '--results', dir]);
    assert.equal(r.code, EXIT.USAGE, r.stderr);
    assert.match(r.stderr, /format version 7; this chiprig reads version 1/);

    writeFileSync(rec, `${JSON.stringify(header)}\n{"t": 1,\n`);
    r = await chiprig(['run', '--device', `replay:${rec}`, '--no-html', '--results', dir]);
    assert.equal(r.code, EXIT.USAGE, r.stderr);
    assert.match(r.stderr, /r\.jsonl:2: not JSON/);
  });
});
