import assert from 'node:assert/strict';
import { fromHex, hex } from '../../bytes.ts';
import {
  BLE_CMD,
  BLE_ERR,
  bleCmdName,
  bleErrName,
  continuationFrame,
  FrameAssembler,
  type FrameStatus,
  fragment,
  initialFrame,
  parseFrame,
} from './fragments.ts';

// Catalogue §3: REGISTER APDU (P1=0x00) and its FIDO BLE fragmentation at cpl 20.
const REGISTER_P1_00 = fromHex(`
  000100000000404142d21c00d94ffb9d504ada8f99b721f4b191ae4e37ca0140
  f696b6983cfacbf0e6a6a97042a4f1f1c87f5f7d44315b2d852c2df5c7991cc6
  6241bf7072d1c40000`);
const REGISTER_FRAMES_CPL_20 = [
  '830049000100000000404142d21c00d94ffb9d50',
  '004ada8f99b721f4b191ae4e37ca0140f696b698',
  '013cfacbf0e6a6a97042a4f1f1c87f5f7d44315b',
  '022d852c2df5c7991cc66241bf7072d1c40000',
];

const payloadOf = (size: number) => Uint8Array.from({ length: size }, (_, i) => (i * 7 + 3) & 0xff);

function feed(assembler: FrameAssembler, raw: Uint8Array): FrameStatus {
  const frame = parseFrame(raw);
  if (frame.kind === 'malformed') throw new Error('malformed');
  return frame.kind === 'init' ? assembler.start(frame) : assembler.add(frame);
}

function reassemble(frames: Uint8Array[]): { status: FrameStatus; message?: Uint8Array } {
  const assembler = new FrameAssembler();
  let status: FrameStatus = 'not-open';
  for (const frame of frames) status = feed(assembler, frame);
  return status === 'complete' ? { status, message: assembler.take() } : { status };
}

describe('FIDO BLE fragments', () => {
  it('fragments the §3 REGISTER APDU at cpl 20 exactly as the catalogue vector', () => {
    assert.equal(REGISTER_P1_00.length, 73);
    const frames = fragment(BLE_CMD.MSG, REGISTER_P1_00, 20);
    assert.deepEqual(frames.map(hex), REGISTER_FRAMES_CPL_20);
    assert.equal(hex(reassemble(frames).message!), hex(REGISTER_P1_00));
  });

  for (const [size, cpl, count] of [
    [0, 20, 1],
    [17, 20, 1],
    [18, 20, 2],
    [17 + 19, 20, 2],
    [17 + 19 + 1, 20, 3],
    [128, 20, 7], // BLE-PING-02
    [512, 512, 1 + 1],
    [509, 512, 1],
    [1024, 185, 6],
  ]) {
    it(`splits ${size} bytes at cpl ${cpl} into ${count} frames and reassembles them`, () => {
      const payload = payloadOf(size!);
      const frames = fragment(BLE_CMD.PING, payload, cpl!);
      assert.equal(frames.length, count);
      for (const frame of frames) assert.ok(frame.length <= cpl!, 'no fragment longer than cpl');
      assert.equal(hex(reassemble(frames).message!), hex(payload));
    });
  }

  it('wraps SEQ 7F -> 00 past 128 continuations (BLE-FRAG-07)', () => {
    const payload = payloadOf(2500);
    const frames = fragment(BLE_CMD.PING, payload, 20);
    const seqs = frames.slice(1).map((f) => f[0]);
    assert.equal(seqs[127], 0x7f);
    assert.equal(seqs[128], 0x00);
    assert.equal(seqs[129], 0x01);
    assert.equal(hex(reassemble(frames).message!), hex(payload));
  });

  it('rejects bad parameters by name', () => {
    assert.throws(() => fragment(BLE_CMD.MSG, new Uint8Array(1), 19), /controlPointLength/);
    assert.throws(() => fragment(BLE_CMD.MSG, new Uint8Array(1), 513), /controlPointLength/);
    assert.throws(() => fragment(0x03, new Uint8Array(1), 20), /cmd/);
    assert.throws(() => fragment(BLE_CMD.MSG, new Uint8Array(0x10000), 512), /payload/);
    assert.throws(() => continuationFrame(0x80, new Uint8Array(0)), /seq/);
    assert.throws(() => initialFrame(BLE_CMD.MSG, 0x10000), /length/);
  });

  it('parses headers and flags short frames as malformed', () => {
    assert.equal(parseFrame(new Uint8Array(0)).kind, 'malformed');
    assert.equal(parseFrame(fromHex('8300')).kind, 'malformed');
    const init = parseFrame(fromHex('830002aabb'));
    assert.ok(init.kind === 'init' && init.cmd === 0x83 && init.length === 2 && hex(init.data) === 'aabb');
    const cont = parseFrame(fromHex('05ccdd'));
    assert.ok(cont.kind === 'cont' && cont.seq === 5 && hex(cont.data) === 'ccdd');
  });

  describe('FrameAssembler', () => {
    it('reports not-open for a continuation with no frame open (BLE-FRAG-03)', () => {
      assert.equal(feed(new FrameAssembler(), fromHex('00aabb')), 'not-open');
    });

    it('reports bad-seq for a continuation with SEQ 01 first (BLE-FRAG-02) and drops the message', () => {
      const a = new FrameAssembler();
      assert.equal(feed(a, initialFrame(BLE_CMD.MSG, 20, payloadOf(17))), 'more');
      assert.equal(feed(a, continuationFrame(1, payloadOf(3))), 'bad-seq');
      assert.equal(a.open, false);
    });

    it('reports over-length for more data than announced (BLE-FRAG-04), in either fragment', () => {
      const a = new FrameAssembler();
      assert.equal(feed(a, initialFrame(BLE_CMD.PING, 1, payloadOf(17))), 'over-length');
      assert.equal(a.open, false);
      assert.equal(feed(a, initialFrame(BLE_CMD.PING, 18, payloadOf(17))), 'more');
      assert.equal(feed(a, continuationFrame(0, payloadOf(2))), 'over-length');
    });

    it('reports too-long above its maximum and nothing starts', () => {
      const a = new FrameAssembler(100);
      assert.equal(feed(a, initialFrame(BLE_CMD.PING, 101, payloadOf(17))), 'too-long');
      assert.equal(a.open, false);
      assert.equal(feed(a, initialFrame(BLE_CMD.PING, 100, payloadOf(17))), 'more');
    });

    it('completes an empty message at once and refuses take() without one', () => {
      const a = new FrameAssembler();
      assert.throws(() => a.take(), /no complete message/);
      assert.equal(feed(a, initialFrame(BLE_CMD.PING, 0)), 'complete');
      assert.equal(a.cmd, BLE_CMD.PING);
      assert.equal(a.take().length, 0);
    });
  });

  it('names commands and errors, keeping unknown codes', () => {
    assert.equal(bleCmdName(0x83), 'MSG');
    assert.equal(bleCmdName(0x84), 'CMD_0x84');
    assert.equal(bleErrName(BLE_ERR.INVALID_SEQ), 'ERR_INVALID_SEQ');
    assert.equal(bleErrName(0x0c), 'ERR_0x0c');
  });
});
