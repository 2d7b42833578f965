/**
 * The rig's own cost per exchange for `npm run bench`: what the host side spends framing an
 * AUTHENTICATE request and parsing its answer on each transport, with no device at all (the
 * answer's frames are prepared beforehand). Measured with tinybench, in microseconds, with
 * the 95 % margin of error.
 */
import { randomBytes } from 'node:crypto';
import { Bench } from 'tinybench';
import {
  fragment as bleFragment,
  type ContinuationFrame,
  FrameAssembler,
  type InitialFrame,
  parseFrame,
} from '../rig/transport/ble/fragments.ts';
import {
  type ContPacket,
  CTAPHID,
  fragment as hidFragment,
  type InitPacket,
  MessageAssembler,
  parsePacket,
} from '../rig/transport/hid/framing.ts';
import { parseResponse } from '../rig/transport/nfc/apdu.ts';
import { cardCommands } from '../rig/transport/nfc/iso7816.ts';
import { AUTH_P1 } from '../rig/u2f/apdu.ts';
import { encodeAuthenticate, parseAuthenticateResponse } from '../rig/u2f/messages.ts';

export interface CodecCost {
  transport: string;
  meanUs: number;
  rmePct: number;
}

const CID = 0x01020304;
const CONTROL_POINT = 20;

/** A plausible AUTHENTICATE answer: flags, counter, a 71-byte DER signature, 9000. */
function answer(): Uint8Array {
  const sig = Uint8Array.from([
    0x30,
    0x45,
    0x02,
    0x20,
    ...randomBytes(32),
    0x02,
    0x21,
    0x00,
    ...randomBytes(32),
  ]);
  return Uint8Array.from([0x01, 0, 0, 0, 7, ...sig, 0x90, 0x00]);
}

export async function benchCodecs(timeMs = 500): Promise<CodecCost[]> {
  const chal = Uint8Array.from(randomBytes(32));
  const app = Uint8Array.from(randomBytes(32));
  const kh = Uint8Array.from(randomBytes(64));
  const raw = answer();
  const hidReports = hidFragment(CID, CTAPHID.MSG, raw);
  const bleFrames = bleFragment(0x83, raw, CONTROL_POINT);
  let sink = 0;
  const parse = (message: Uint8Array) => {
    const r = parseResponse(message);
    sink += parseAuthenticateResponse(r.data).counter;
  };
  const bench = new Bench({ time: timeMs, warmupTime: 100 });
  bench
    .add('USB HID (CTAPHID reports)', () => {
      const apdu = encodeAuthenticate(AUTH_P1.ENFORCE, chal, app, kh);
      sink += hidFragment(CID, CTAPHID.MSG, apdu).length;
      const assembler = new MessageAssembler();
      assembler.start(parsePacket(hidReports[0]!) as InitPacket);
      for (let i = 1; i < hidReports.length; i++) assembler.add(parsePacket(hidReports[i]!) as ContPacket);
      parse(assembler.take());
    })
    .add('NFC (extended APDU)', () => {
      const apdu = encodeAuthenticate(AUTH_P1.ENFORCE, chal, app, kh);
      sink += cardCommands(apdu, 'extended').length;
      parse(raw);
    })
    .add('NFC (short APDUs, chained)', () => {
      const apdu = encodeAuthenticate(AUTH_P1.ENFORCE, chal, app, kh);
      sink += cardCommands(apdu, 'short', 250).length;
      parse(raw);
    })
    .add('Bluetooth LE (FIDO fragments of 20)', () => {
      const apdu = encodeAuthenticate(AUTH_P1.ENFORCE, chal, app, kh);
      sink += bleFragment(0x83, apdu, CONTROL_POINT).length;
      const assembler = new FrameAssembler();
      assembler.start(parseFrame(bleFrames[0]!) as InitialFrame);
      for (let i = 1; i < bleFrames.length; i++)
        assembler.add(parseFrame(bleFrames[i]!) as ContinuationFrame);
      parse(assembler.take());
    });
  await bench.run();
  if (sink === Number.MIN_SAFE_INTEGER) console.log(sink); // keeps the work observable
  return bench.tasks.map((t) => {
    if (t.result.state !== 'completed') throw new Error(`${t.name}: ${t.result.state}`);
    return { transport: t.name, meanUs: t.result.latency.mean * 1000, rmePct: t.result.latency.rme };
  });
}
