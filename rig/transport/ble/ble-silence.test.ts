import assert from 'node:assert/strict';
import { rawCall } from '../../../suites/support/ble.ts';
import { openChip } from '../../../test/support/fido-test-support.ts';
import { fromHex } from '../../bytes.ts';
import { isDeviceFailure, TransportError } from '../../errors.ts';
import { BleTransport } from './ble-transport.ts';
import type { GattLink } from './connection.ts';
import { continuationFrame, initialFrame } from './fragments.ts';
import { UUID } from './gatt-uuids.ts';

/** A FIDO service that reads well and never notifies anything: a device or link gone quiet. */
function deadLink(): GattLink {
  return {
    peripheral: { id: 'c0ffee000003', address: 'c0:ff:ee:00:00:03' },
    mtu: 23,
    services: async () => [],
    read: async (_s: string, c: string) =>
      c === UUID.CONTROL_POINT_LENGTH
        ? fromHex('0014')
        : c === UUID.SERVICE_REVISION_BITFIELD
          ? fromHex('40')
          : Uint8Array.of(),
    write: async () => undefined,
    subscribe: async () => async () => undefined,
    onDisconnect: () => () => undefined,
    close: async () => undefined,
  };
}

/**
 * Silence where the catalogue requires a BLE answer (BLE-CMD-01, BLE-FRAG-03, ...): a device
 * that still echoes a PING failed the case; one that answers nothing at all is a link fault.
 */
describe('BLE silence where an answer is owed (suites/support/ble.ts rawCall)', () => {
  it('a device silent to an unknown command but echoing a PING fails, with the bytes sent', async () => {
    const chip = await openChip({ faults: { silentUnknownCommand: true } });
    try {
      await assert.rejects(
        rawCall(chip.transport, [initialFrame(0x84, 0)], { timeoutMs: 200, what: 'BLE-CMD-01: command 84' }),
        (e: unknown) =>
          isDeviceFailure(e) &&
          /^BLE-CMD-01: command 84: no answer within 200 ms to 840000 \(the device still echoes a PING/.test(
            (e as Error).message,
          ),
      );
    } finally {
      await chip.transport.close();
    }
  });

  it('a device silent to a stray continuation fails the same way', async () => {
    const chip = await openChip({ faults: { silentStrayContinuation: true } });
    try {
      const frame = continuationFrame(0, Uint8Array.of(1, 2, 3));
      await assert.rejects(
        rawCall(chip.transport, [frame], { timeoutMs: 200, what: 'BLE-FRAG-03' }),
        (e: unknown) =>
          isDeviceFailure(e) && /BLE-FRAG-03: no answer within 200 ms to 00010203/.test(String(e)),
      );
    } finally {
      await chip.transport.close();
    }
  });

  it('a link where nothing answers, not even the PING, is a link fault (broken), never a failure', async () => {
    const transport = await BleTransport.open(deadLink(), { timeoutMs: 2000 });
    try {
      await assert.rejects(
        rawCall(transport, [initialFrame(0x84, 0)], { timeoutMs: 100, what: 'BLE-CMD-01' }),
        (e: unknown) =>
          e instanceof TransportError &&
          e.code === 'TIMEOUT' &&
          !isDeviceFailure(e) &&
          /no answer within 100 ms to 840000, and no answer to a PING within 1000 ms either/.test(e.message),
      );
    } finally {
      await transport.close();
    }
  });

  it('a well-behaved chip answers, so nothing is probed', async () => {
    const chip = await openChip();
    try {
      const r = await rawCall(chip.transport, [initialFrame(0x84, 0)], { what: 'BLE-CMD-01' });
      assert.equal(r.cmd, 0xbf);
      assert.equal(r.data[0], 0x01);
    } finally {
      await chip.transport.close();
    }
  });
});
