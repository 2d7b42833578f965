import assert from 'node:assert/strict';
import { fromHex, hex } from '../../bytes.ts';
import { AttServer } from './hci-att-server.ts';
import type { ServiceDef } from './peripheral.ts';

/** ATT server PDUs checked against Core Vol 3 Part F layouts, without a host stack. */
const CONTROL_POINT = 'f1d0fff1deaaeceeb42fc9ba7ed623bb';
const STATUS = 'f1d0fff2deaaeceeb42fc9ba7ed623bb';
const LONG = new Uint8Array(300).map((_, i) => i & 0xff);

function fixture() {
  const events: string[] = [];
  const writes: string[] = [];
  const services: ServiceDef[] = [
    {
      uuid: 'fffd',
      characteristics: [
        { uuid: CONTROL_POINT, properties: ['write'], write: (d) => void writes.push(hex(d)) },
        { uuid: STATUS, properties: ['notify'] },
        { uuid: '2a28', properties: ['read'], read: () => LONG },
      ],
    },
    {
      uuid: '180f',
      characteristics: [{ uuid: '2a19', properties: ['read'], read: () => Uint8Array.of(99) }],
    },
  ];
  const server = new AttServer(services, 100, (s, c, on) => events.push(`${s}:${c}:${on}`));
  const ask = (pduHex: string) => {
    const answer = server.handle(fromHex(pduHex));
    return answer && hex(answer);
  };
  return { server, events, writes, ask };
}

describe('ATT server (emulated HCI controller)', () => {
  it('lays out handles deterministically: services, declarations, values, CCCD', () => {
    const { ask } = fixture();
    // Read By Group Type, primary services: (start, end, uuid) x 2 of length 6.
    assert.equal(ask('100100ffff0028'), '1106' + '01000800fdff' + '09000b000f18');
    // Read By Type, characteristic declarations of service 1: props, value handle, UUID.
    // Entries of one length only: the 128-bit declaration fills the default MTU of 23.
    const reversed = CONTROL_POINT.match(/../g)!.reverse().join('');
    assert.equal(ask('0801000800' + '0328'), `0915${'0200'}08${'0300'}${reversed}`);
    assert.equal(ask('0807000800' + '0328'), '0907' + '0700' + '02' + '0800' + '282a');
    // Find Information on the CCCD of the notify characteristic: format 0x01, 0x2902.
    assert.equal(ask('0406000600'), '050106000229');
    assert.equal(ask('040c00ffff'), '01040c000a'); // past the last handle: Attribute Not Found
  });

  it('exchanges the MTU and cuts reads to it; Read Blob continues from an offset', () => {
    const { ask, server } = fixture();
    assert.equal(ask('020001'), '036400'); // min(256, 100) = 100
    assert.equal(server.mtu, 100);
    const first = ask('0a0800')!;
    assert.equal(first.length / 2, 100); // opcode + MTU - 1 octets
    assert.equal(ask('0c08002c01'), '0d'); // offset 300 = end of value: empty
    assert.equal(ask('0c08002d01'), '010c080007'); // offset 301: Invalid Offset
  });

  it('refuses what the properties do not allow and unknown handles', () => {
    const { ask } = fixture();
    assert.equal(ask('0a0300'), '010a030002'); // read of a write-only value
    assert.equal(ask('1208000102'), '0112080003'); // write of a read-only value
    assert.equal(ask('0a6300'), '010a630001'); // no such handle
    assert.equal(ask('100000ffff0028'), '0110000001'); // start handle 0
    assert.equal(ask('100100ffff0328'), '0110010010'); // not a grouping type
    assert.equal(ask('200100'), '0120000006'); // unknown request
    assert.equal(ask('52630001'), undefined); // commands are never answered
  });

  it('writes, long writes and CCCD writes reach the peripheral; notifications need the CCCD', () => {
    const { ask, server, events, writes } = fixture();
    assert.equal(server.valueUpdate('fffd', STATUS, Uint8Array.of(1)), undefined);
    assert.equal(ask('1203008300'), '13');
    assert.equal(ask('5203008301'), undefined);
    assert.equal(ask('16030000000102'), '17030000000102');
    assert.equal(ask('16030002000304'), '17030002000304');
    assert.equal(ask('1801'), '19');
    assert.deepEqual(writes, ['8300', '8301', '01020304']);
    assert.equal(ask('1206000100'), '13');
    assert.deepEqual(events, [`fffd:${STATUS}:true`]);
    assert.equal(ask('0a0600'), '0b0100');
    assert.equal(hex(server.valueUpdate('fffd', STATUS, Uint8Array.of(7))!), '1b050007');
    assert.equal(ask('12060001'), '011206000d'); // a CCCD takes two octets
  });
});
