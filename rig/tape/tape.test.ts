import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromHex, hex } from '../bytes.ts';
import { ReplayDivergedError, TransportError } from '../errors.ts';
import { hostRandomBytes, seedHostRandom } from '../random.ts';
import { makeEmulator } from '../station/emulated.ts';
import { loadStationFile } from '../station/station-file.ts';
import { HidTransport } from '../transport/hid/hid-transport.ts';
import { Recorder } from './recorder.ts';
import { Replayer } from './replayer.ts';

const VERSION = fromHex('0003000000');
const HEADER = {
  startedAt: '2026-12-02T00:00:00.000Z',
  chiprig: 'test',
  host: 'test',
  station: 'emulated',
  device: 'emulator',
  transports: ['hid', 'nfc'] as ('hid' | 'nfc')[],
  presence: 'actuator' as const,
  emulated: true,
  canPowerCycle: true,
  canSetPairingMode: false,
  suites: ['u2f'],
  grep: null,
};

const file = () => join(mkdtempSync(join(tmpdir(), 'chiprig-tape-')), 'run.jsonl');

/** A recording in a fresh file, with the emulated chip's HID transport opened through it. */
async function recordingHid() {
  const path = file();
  const chip = makeEmulator(loadStationFile(undefined), undefined);
  const rec = new Recorder(path);
  rec.header(HEADER);
  const transport = await HidTransport.open(await rec.openHid(async () => chip.hid()));
  return { path, rec, transport };
}

describe('Recorded traffic: the recorder and the replayer', () => {
  afterEach(() => seedHostRandom(undefined));

  it("REC-U-01 the host's random choices repeat per test under one seed, and differ between tests", () => {
    const seed = fromHex('11'.repeat(32));
    seedHostRandom(seed, 'test A');
    const a = hex(hostRandomBytes(48));
    seedHostRandom(seed, 'test B');
    const b = hex(hostRandomBytes(48));
    seedHostRandom(seed, 'test A');
    assert.equal(
      hex(hostRandomBytes(20)) + hex(hostRandomBytes(28)),
      a,
      'the stream does not depend on how it is cut',
    );
    assert.notEqual(a, b);
    seedHostRandom(undefined);
    assert.notEqual(hex(hostRandomBytes(48)), hex(hostRandomBytes(48)));
  });

  it('REC-U-02 a HID run recorded at the connection seam replays its answers byte for byte, a silence as a silence', async () => {
    const { path, rec, transport: recorded } = await recordingHid();
    rec.beginTest('t1');
    const answer = await recorded.exchange(VERSION);
    const quiet = await recorded.connection.read(60);
    rec.endTest();
    rec.result('t1', 'passed');
    await recorded.close();
    rec.close();
    assert.equal(quiet, undefined);
    assert.equal(Buffer.from(answer.subarray(0, 6)).toString(), 'U2F_V2');

    const lines = readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines[0].format, 'chiprig-recording');
    assert.ok(lines.some((l) => l.dir === 'recv' && l.op === 'read' && l.hex === null && l.test === 't1'));

    const replay = Replayer.load(path);
    const again = await HidTransport.open(await replay.openHid());
    replay.beginTest('t1');
    assert.equal(hex(await again.exchange(VERSION)), hex(answer));
    const started = performance.now();
    assert.equal(await again.connection.read(60), undefined);
    assert.ok(performance.now() - started >= 45, 'the silence lasts as long as it did');
    replay.endTest();
    replay.result('t1', 'passed');
    await again.close();
    assert.deepEqual(replay.differences(), []);
  });

  it('REC-U-03 other bytes, another call or an unrecorded test are refused with the line they diverged at', async () => {
    const { path, rec, transport: t } = await recordingHid();
    rec.beginTest('t1');
    await t.exchange(VERSION);
    rec.endTest();
    await t.close();
    rec.close();

    const replay = Replayer.load(path);
    const again = await HidTransport.open(await replay.openHid());
    replay.beginTest('t1');
    await assert.rejects(
      again.exchange(fromHex('0003000000ff')),
      (e: unknown) =>
        e instanceof ReplayDivergedError &&
        /replay diverged in t1: the host asked for hid write, but the host sent .* where the recording \(line \d+\) has/.test(
          e.message,
        ),
    );
    // Refused before any byte went out: the transport needs no INIT, and the recorded call still answers.
    assert.equal(Buffer.from((await again.exchange(VERSION)).subarray(0, 6)).toString(), 'U2F_V2');
    replay.beginTest('t2');
    await assert.rejects(again.exchange(VERSION), /"t2" is not in the recording/);
  });

  it('REC-U-04 an NFC link fault replays as the same TransportError, and a removed card as a movable one', async () => {
    const path = file();
    const chip = makeEmulator(loadStationFile(undefined), undefined);
    const rec = new Recorder(path);
    rec.header(HEADER);
    const inner = chip.cardConnection();
    const card = await rec.openCard(async () => inner);
    rec.beginTest('nfc');
    const select = fromHex('00a4040008a0000006472f000100');
    const selected = await card.transmit(select);
    (card as unknown as { remove(): void }).remove();
    const fault = await card.transmit(VERSION).catch((e: unknown) => e);
    rec.endTest();
    rec.close();
    assert.ok(fault instanceof TransportError && fault.code === 'DISCONNECTED', String(fault));
    assert.ok(readFileSync(path, 'utf8').includes('"note":"card taken out of the field"'));

    const replay = Replayer.load(path);
    const again = await replay.openCard();
    assert.equal(again.reader, inner.reader);
    assert.equal(hex(again.atr), hex(inner.atr));
    assert.equal(typeof (again as unknown as { remove?: unknown }).remove, 'function');
    replay.beginTest('nfc');
    assert.equal(hex(await again.transmit(select)), hex(selected));
    await assert.rejects(
      again.transmit(VERSION),
      (e: unknown) => e instanceof TransportError && e.code === 'DISCONNECTED' && e.message === fault.message,
    );
  });
});
