/**
 * Property-based tests (fast-check) of the transport codecs: encode → decode round trips
 * for any input the protocols allow, and decoders that never throw on bytes a device (or a
 * peer) may send. Each property runs RUNS generated cases.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bytes, cut, hexOf, RUNS } from '../../test/support/property.ts';
import { VpcdFrameReader, vpcdFrame } from '../emulator/vpcd-frames.ts';
import { fragment as bleFragment, FrameAssembler, parseFrame } from '../transport/ble/fragments.ts';
import {
  fragment as hidFragment,
  type InitPacket,
  isContReport,
  MAX_MESSAGE,
  MessageAssembler,
  parsePacket,
  REPORT_SIZE,
} from '../transport/hid/framing.ts';

const cid = fc.integer({ min: 1, max: 0xfffffffe });
const hidCmd = fc.integer({ min: 0x80, max: 0xff });

describe('property: CTAPHID framing', () => {
  it(`fragment → reassemble gives back any message of 0..${MAX_MESSAGE} bytes on its CID and command`, () => {
    fc.assert(
      fc.property(cid, hidCmd, bytes(MAX_MESSAGE), (c, cmd, payload) => {
        const reports = hidFragment(c, cmd, payload);
        assert.ok(reports.every((r) => r.length === REPORT_SIZE));
        const assembler = new MessageAssembler();
        let status = assembler.start(parsePacket(reports[0]!) as InitPacket);
        for (const r of reports.slice(1)) {
          assert.ok(isContReport(r));
          status = assembler.addReport(r);
        }
        assert.equal(status, 'complete');
        assert.equal(assembler.cid, c);
        assert.equal(assembler.cmd, cmd);
        assert.deepEqual(Buffer.from(assembler.take()), Buffer.from(payload));
      }),
      { numRuns: RUNS },
    );
  });

  it('parsePacket and the assembler never throw on any sequence of 64-byte reports', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 64, maxLength: 64 }), { maxLength: 12 }), (reports) => {
        const assembler = new MessageAssembler();
        for (const r of reports) {
          const p = parsePacket(r);
          const status = p.kind === 'init' ? assembler.start(p) : assembler.addReport(r);
          assert.ok(['complete', 'more', 'bad-seq', 'too-long', 'not-open'].includes(status));
          if (status === 'complete') assembler.take();
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('a report shorter than its header is refused with a RangeError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 6 }), (r) => {
        try {
          parsePacket(r);
        } catch (error) {
          assert.ok(error instanceof RangeError, String(error));
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('property: FIDO BLE fragments', () => {
  it('fragment → reassemble gives back any message at any control point length 20..512', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0x81, 0x82, 0x83, 0xbe, 0xbf),
        bytes(3000),
        fc.integer({ min: 20, max: 512 }),
        (cmd, payload, cpl) => {
          const frames = bleFragment(cmd, payload, cpl);
          assert.ok(frames.every((f) => f.length <= cpl));
          const assembler = new FrameAssembler();
          let status: string = 'not-open';
          for (const raw of frames) {
            const f = parseFrame(raw);
            if (f.kind === 'init') status = assembler.start(f);
            else if (f.kind === 'cont') status = assembler.add(f);
            else assert.fail('fragment made a malformed frame');
          }
          assert.equal(status, 'complete');
          assert.equal(assembler.cmd, cmd);
          assert.deepEqual(Buffer.from(assembler.take()), Buffer.from(payload));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('parseFrame and the assembler never throw on any notifications', () => {
    fc.assert(
      fc.property(fc.array(bytes(40), { maxLength: 12 }), (frames) => {
        const assembler = new FrameAssembler();
        for (const raw of frames) {
          const f = parseFrame(raw);
          const status =
            f.kind === 'init' ? assembler.start(f) : f.kind === 'cont' ? assembler.add(f) : 'malformed';
          if (status === 'complete') assembler.take();
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('property: vpcd frames', () => {
  it('any payloads, framed and cut at any points, come out whole and in order', () => {
    fc.assert(
      fc.property(
        fc.array(bytes(600), { maxLength: 8 }),
        fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 10 }),
        (payloads, cuts) => {
          const stream = Uint8Array.from(Buffer.concat(payloads.map((p) => vpcdFrame(p))));
          const reader = new VpcdFrameReader();
          const out = cut(stream, cuts).flatMap((chunk) => reader.push(chunk));
          assert.equal(reader.buffered, 0);
          assert.deepEqual(out.map(hexOf), payloads.map(hexOf));
        },
      ),
      { numRuns: RUNS },
    );
  });
});
