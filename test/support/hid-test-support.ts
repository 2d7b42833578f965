/** Raw-report helpers for the emulated HID device's unit tests (not a public API). */
import assert from 'node:assert/strict';
import { concat, hex, readU32be } from '../../rig/bytes.ts';
import type { HidConnection } from '../../rig/transport/hid/connection.ts';
import {
  BROADCAST_CID,
  CTAPHID,
  initPacket,
  MessageAssembler,
  parsePacket,
} from '../../rig/transport/hid/framing.ts';

/** The fake authenticator core: echoes the APDU followed by SW 9000. */
export const echoApdu = async (apdu: Uint8Array): Promise<Uint8Array> =>
  concat(apdu, Uint8Array.of(0x90, 0x00));

export const NONCE = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);

/** Reads one report; fails if none arrives within `withinMs`. */
export async function readReport(device: HidConnection, withinMs = 100): Promise<Uint8Array> {
  const report = await device.read(withinMs);
  assert.ok(report, `no report within ${withinMs} ms`);
  return report;
}

/** Expects `ERR(code)`: `cid BF 0001 code` (catalogue §2 conventions). */
export async function expectError(device: HidConnection, cid: number, code: number, withinMs = 100) {
  const report = await readReport(device, withinMs);
  const expected = hex(initPacket(cid, CTAPHID.ERROR, 1, Uint8Array.of(code))).slice(0, 16);
  assert.equal(hex(report).slice(0, 16), expected, `expected ERR(${code.toString(16).padStart(2, '0')})`);
}

export async function expectSilence(device: HidConnection, forMs: number) {
  const report = await device.read(forMs);
  assert.equal(report && hex(report), undefined, 'unexpected report');
}

/** Reads one whole message on `cid`; every report must be on that CID (HID-RSP-01). */
export async function readMessage(device: HidConnection, cid: number, withinMs = 200) {
  const assembler = new MessageAssembler();
  for (;;) {
    const packet = parsePacket(await readReport(device, withinMs));
    assert.equal(packet.cid, cid, 'answer on the stimulus CID');
    const status = packet.kind === 'init' ? assembler.start(packet) : assembler.add(packet);
    if (status === 'complete') return { cmd: assembler.cmd, payload: assembler.take() };
    assert.equal(status, 'more');
  }
}

/** INIT on `cid` (broadcast by default) and returns the CID the device assigned. */
export async function init(device: HidConnection, cid = BROADCAST_CID): Promise<number> {
  await device.write(initPacket(cid, CTAPHID.INIT, 8, NONCE));
  const { cmd, payload } = await readMessage(device, cid);
  assert.equal(cmd, CTAPHID.INIT);
  assert.equal(payload.length, 17);
  assert.equal(hex(payload.subarray(0, 8)), hex(NONCE));
  return readU32be(payload, 8);
}
