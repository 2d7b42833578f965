import assert from 'node:assert/strict';
import { fromHex, hex } from '../../bytes.ts';
import {
  CONT_DATA,
  CTAPHID,
  contPacket,
  ERR,
  errName,
  fragment,
  INIT_DATA,
  initPacket,
  MAX_MESSAGE,
  MessageAssembler,
  type Packet,
  parsePacket,
} from './framing.ts';

// Catalogue §3.3: REGISTER APDU (P1=0x00) and its CTAPHID framing on CID 0x01020304.
const REGISTER_P1_00 = fromHex(`
  000100000000404142d21c00d94ffb9d504ada8f99b721f4b191ae4e37ca0140
  f696b6983cfacbf0e6a6a97042a4f1f1c87f5f7d44315b2d852c2df5c7991cc6
  6241bf7072d1c40000`);
const REGISTER_FRAMES = [
  '01020304830049000100000000404142d21c00d94ffb9d504ada8f99b721f4b191ae4e37ca0140f696b6983cfacbf0e6a6a97042a4f1f1c87f5f7d44315b2d85',
  '01020304002c2df5c7991cc66241bf7072d1c4000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000',
];

function payloadOf(size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i * 7 + 3) & 0xff);
}

function reassemble(reports: Uint8Array[]): { status: string; message?: Uint8Array } {
  const assembler = new MessageAssembler();
  let status = '';
  for (const report of reports) {
    const packet: Packet = parsePacket(report);
    status = packet.kind === 'init' ? assembler.start(packet) : assembler.add(packet);
  }
  return status === 'complete' ? { status, message: assembler.take() } : { status };
}

describe('CTAPHID framing', () => {
  it('frames the §3.3 REGISTER APDU on CID 01020304 exactly as the catalogue vector', () => {
    assert.equal(REGISTER_P1_00.length, 73);
    const reports = fragment(0x01020304, CTAPHID.MSG, REGISTER_P1_00);
    assert.deepEqual(reports.map(hex), REGISTER_FRAMES);
    const { message } = reassemble(reports);
    assert.equal(hex(message!), hex(REGISTER_P1_00));
  });

  for (const [size, count] of [
    [0, 1],
    [1, 1],
    [57, 1],
    [58, 2],
    [57 + 59, 2],
    [57 + 59 + 1, 3],
    [1000, 17],
    [1024, 18], // HID-PING-02: 18 reports
    [7609, 129],
  ] as const) {
    it(`fragments and reassembles ${size} bytes into ${count} report(s)`, () => {
      const payload = payloadOf(size);
      const reports = fragment(0xcafe0001, CTAPHID.PING, payload);
      assert.equal(reports.length, count);
      for (const r of reports) assert.equal(r.length, 64);
      reports.slice(1).forEach((r, seq) => {
        assert.equal(r[4], seq, 'CONT SEQ counts 0, 1, 2, …');
      });
      const first = parsePacket(reports[0]!);
      assert.equal(first.kind, 'init');
      if (first.kind === 'init') assert.equal(first.bcnt, size);
      assert.equal(hex(reassemble(reports).message!), hex(payload));
    });
  }

  it('uses SEQ 0..127 for the largest message', () => {
    const reports = fragment(1, CTAPHID.PING, payloadOf(MAX_MESSAGE));
    assert.equal(reports.at(-1)![4], 127);
    assert.equal(MAX_MESSAGE, INIT_DATA + 128 * CONT_DATA);
  });

  it('rejects 7610 bytes with a RangeError naming the payload', () => {
    assert.throws(() => fragment(1, CTAPHID.PING, payloadOf(MAX_MESSAGE + 1)), /payload: 7610 bytes/);
  });

  it('builds frames that announce more than they carry (HID-LEN-01)', () => {
    const report = initPacket(0x01020304, CTAPHID.PING, 7610);
    assert.equal(hex(report.subarray(0, 7)), '01020304811dba');
    assert.equal(reassemble([report]).status, 'too-long');
  });

  it('parses init and continuation headers', () => {
    const init = parsePacket(initPacket(0xffffffff, CTAPHID.INIT, 8, fromHex('0102030405060708')));
    assert.deepEqual(
      { ...init, data: hex(init.data), raw: undefined },
      {
        kind: 'init',
        cid: 0xffffffff,
        cmd: 0x86,
        bcnt: 8,
        data: '0102030405060708',
        raw: undefined,
      },
    );
    const cont = parsePacket(contPacket(0x00000100, 0x7f, fromHex('aa')));
    assert.equal(cont.kind, 'cont');
    if (cont.kind === 'cont') {
      assert.equal(cont.cid, 0x100);
      assert.equal(cont.seq, 0x7f);
      assert.equal(cont.data.length, 59);
    }
    assert.throws(() => parsePacket(new Uint8Array(4)), /report:/);
  });

  it('checks its inputs, naming the parameter', () => {
    assert.throws(() => contPacket(1, 128, new Uint8Array(0)), /seq:/);
    assert.throws(() => contPacket(1, 0, new Uint8Array(60)), /data:/);
    assert.throws(() => initPacket(1, 0x06, 0), /cmd:/);
    assert.throws(() => initPacket(-1, 0x86, 0), /cid:/);
    assert.throws(() => initPacket(1, 0x86, 0x10000), /bcnt:/);
    assert.throws(() => initPacket(1, 0x86, 58, new Uint8Array(58)), /data:/);
  });

  it('reports a skipped or repeated SEQ and a lone CONT', () => {
    const reports = fragment(9, CTAPHID.PING, payloadOf(200)); // init + SEQ 0, 1, 2
    assert.equal(reassemble([reports[0]!, reports[1]!, reports[3]!]).status, 'bad-seq');
    assert.equal(reassemble([reports[0]!, reports[2]!]).status, 'bad-seq');
    assert.equal(reassemble([reports[1]!]).status, 'not-open');
    assert.equal(reassemble([reports[0]!, reports[1]!]).status, 'more');
  });

  it('names error codes, keeping unknown ones visible', () => {
    assert.equal(errName(ERR.CHANNEL_BUSY), 'ERR_CHANNEL_BUSY');
    assert.equal(errName(0x0b), 'ERR_INVALID_CID');
    assert.equal(errName(0x42), 'ERR_0x42');
  });
});
