import assert from 'node:assert/strict';
import { concat, fromHex, hex } from '../../bytes.ts';
import {
  CLA_CHAINING,
  CTAP2_GETINFO_PROBE,
  cardCommands,
  chainShort,
  FIDO_AID,
  getResponse,
  isChainingCla,
  selectFido,
  withNe,
} from './iso7816.ts';

/** Catalogue §3.3: REGISTER, P1 03, extended (HID/BLE form) and its NFC short-APDU twin. */
const REGISTER_EXTENDED = fromHex(`
  000103000000404142d21c00d94ffb9d504ada8f99b721f4b191ae4e37ca0140
  f696b6983cfacbf0e6a6a97042a4f1f1c87f5f7d44315b2d852c2df5c7991cc6
  6241bf7072d1c40000`);
const REGISTER_SHORT = `
  00010300404142d21c00d94ffb9d504ada8f99b721f4b191ae4e37ca0140f696
  b6983cfacbf0e6a6a97042a4f1f1c87f5f7d44315b2d852c2df5c7991cc66241
  bf7072d1c400`.replace(/\s+/g, '');
const REGISTER_BODY = REGISTER_EXTENDED.subarray(7, 71);

describe('ISO 7816-4 NFC helpers', () => {
  it('SELECT of the FIDO AID, with and without Le (NFC-SEL-01/02)', () => {
    assert.equal(hex(FIDO_AID), 'a0000006472f0001');
    assert.equal(hex(selectFido()), '00a4040008a0000006472f000100');
    assert.equal(hex(selectFido({ le: false })), '00a4040008a0000006472f0001');
    assert.equal(hex(CTAP2_GETINFO_PROBE), '80108000010400');
  });

  it('GET RESPONSE 00 C0 00 00 Le, 256 as 00', () => {
    assert.equal(hex(getResponse(0x40)), '00c0000040');
    assert.equal(hex(getResponse(256)), '00c0000000');
    assert.throws(() => getResponse(0), /ne: must be 1\.\.256/);
    assert.throws(() => getResponse(257), /ne: must be 1\.\.256/);
  });

  it('chainShort: one short APDU when the data fits (catalogue §3.3 NFC REGISTER vector)', () => {
    const blocks = chainShort(0x00, 0x01, 0x03, 0x00, REGISTER_BODY, 256, 250);
    assert.deepEqual(blocks.map(hex), [REGISTER_SHORT]);
  });

  it('chainShort: CLA|0x10 on all but the last block, Le only on the last', () => {
    const blocks = chainShort(0x00, 0x01, 0x03, 0x00, REGISTER_BODY, 256, 30);
    assert.deepEqual(
      blocks.map((b) => hex(b.subarray(0, 5))),
      ['100103001e', '100103001e', '0001030004'],
    );
    assert.equal(blocks[0]!.length, 35);
    assert.equal(blocks[2]!.length, 5 + 4 + 1);
    assert.equal(blocks[2]![9], 0x00, 'Le 00 on the last block');
    const bodies = blocks.map((b, i) => b.subarray(5, i === 2 ? 9 : 35));
    assert.equal(hex(concat(...bodies)), hex(REGISTER_BODY), 'the blocks carry the data in order');
  });

  it('chainShort: chunk sizes of the hosts (240, 250, 255) and input checks', () => {
    const data = new Uint8Array(600).map((_, i) => i & 0xff);
    for (const size of [240, 250, 255]) {
      const blocks = chainShort(0x00, 0x02, 0x03, 0x00, data, undefined, size);
      assert.equal(blocks.length, Math.ceil(600 / size));
      assert.ok(blocks.slice(0, -1).every((b) => b[0] === CLA_CHAINING && b[4] === size));
      assert.equal(blocks.at(-1)![0], 0x00);
      assert.equal(blocks.at(-1)!.length, 5 + (600 - size * (blocks.length - 1)), 'no Le');
    }
    assert.throws(() => chainShort(0, 1, 0, 0, data, 256, 256), /chunkSize: must be 1\.\.255/);
    assert.throws(() => chainShort(0x10, 1, 0, 0, data, 256, 250), /cla: chaining bit/);
  });

  it('isChainingCla: bit 0x10 in the interindustry and proprietary classes only', () => {
    assert.deepEqual([0x00, 0x10, 0x80, 0x90, 0x01, 0x11, 0xf0, 0xff].map(isChainingCla), [
      false,
      true,
      false,
      true,
      false,
      true,
      false,
      false,
    ]);
  });

  it('cardCommands: re-encodes U2F messages short; leaves short, extended-mode and malformed bytes alone', () => {
    assert.deepEqual(cardCommands(REGISTER_EXTENDED, 'short').map(hex), [REGISTER_SHORT]);
    assert.deepEqual(cardCommands(REGISTER_EXTENDED, 'extended').map(hex), [hex(REGISTER_EXTENDED)]);
    assert.deepEqual(cardCommands(fromHex('000300000000000000'), 'short').map(hex), ['0003000000']);
    for (const raw of ['0000000000', '00010000', '000100000000410000', '1001000001aa']) {
      assert.deepEqual(cardCommands(fromHex(raw), 'short').map(hex), [raw], raw);
    }
    assert.equal(cardCommands(REGISTER_EXTENDED, 'short', 32).length, 2);
  });

  it('withNe: the same command with a corrected Le (6Cxx)', () => {
    assert.equal(hex(withNe(fromHex('0003000000'), 6)!), '0003000006');
    assert.equal(hex(withNe(fromHex('00030000000000'), 6)!), '00030000000006');
    assert.equal(withNe(fromHex('000300000000000000'), 6), undefined);
    assert.equal(withNe(fromHex('0003'), 6), undefined);
  });
});
