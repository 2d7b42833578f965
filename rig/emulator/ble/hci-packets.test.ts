import assert from 'node:assert/strict';
import { fromHex, hex } from '../../bytes.ts';
import {
  aclPacket,
  addressBytes,
  advertisingPayloads,
  commandComplete,
  H4Reassembler,
  numberOfCompletedPackets,
  OP,
} from './hci-packets.ts';

describe('HCI H4 packets (emulated controller)', () => {
  it('answers Reset with exactly the bytes noble UART driver waits for', () => {
    assert.equal(hex(commandComplete(OP.RESET, 0)), '040e0401030c00');
  });

  it('counts completed ACL packets and frames L2CAP with boundary flag 0b10', () => {
    assert.equal(hex(numberOfCompletedPackets(0x40, 1)), '0413050140000100');
    assert.equal(hex(aclPacket(0x40, 4, Uint8Array.of(0x13))), '024020050001000400' + '13');
  });

  it('keeps BD_ADDRs least significant octet first and checks their shape', () => {
    assert.equal(hex(addressBytes('f1:d0:00:00:00:01')), '01000000d0f1');
    assert.throws(() => addressBytes('f1:d0'), /address: not a BD_ADDR/);
  });

  it('packs Flags, UUIDs, FFFD service data and the name; what overflows 31 octets goes to the scan response', () => {
    const base = {
      serviceUuids: ['fffd'],
      serviceData: [{ uuid: 'fffd', data: Uint8Array.of(0x80) }],
      flags: 6,
    };
    const short = advertisingPayloads({ ...base, localName: 'key', connectable: true });
    assert.equal(hex(short.adv), '020106' + '0303fdff' + '0416fdff80' + '04096b6579');
    assert.equal(hex(short.scanRsp), '');
    const long = advertisingPayloads({ ...base, localName: 'a-rather-long-key-name', connectable: true });
    assert.equal(hex(long.adv), '020106' + '0303fdff' + '0416fdff80');
    assert.equal(long.scanRsp[1], 0x09);
  });

  it('reassembles commands and ACL packets split across chunks', () => {
    const h4 = new H4Reassembler();
    assert.deepEqual(h4.push(fromHex('01030c')), []);
    const first = h4.push(fromHex('00' + '02400005000100'));
    assert.deepEqual(first, [{ kind: 'command', opcode: OP.RESET, params: new Uint8Array(0) }]);
    const [acl] = h4.push(fromHex('040013'));
    assert.ok(acl?.kind === 'acl');
    assert.equal(acl.handle, 0x40);
    assert.equal(acl.boundary, 0);
    assert.equal(hex(acl.data), '0100040013');
  });
});
