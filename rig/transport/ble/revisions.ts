import { UUID } from '../../emulator/ble/peripheral.ts';
import { deviceFault, TransportError } from '../../errors.ts';
import type { TrafficLog } from '../../traffic.ts';
import { GattError, type GattLink } from './connection.ts';

export type U2fBleRevision = 'u2f-1.2' | 'u2f-1.1';

/** fidoServiceRevisionBitfield bits (catalogue §1.4, Chromium ServiceRevision). */
export const REVISION_BIT = { 'u2f-1.1': 0x80, 'u2f-1.2': 0x40, fido2: 0x20 } as const;

export interface RevisionSelection {
  /** The raw bitfield as read; empty when the characteristic is absent (a U2F 1.0 device). */
  bitfield: Uint8Array;
  revision: U2fBleRevision | undefined;
}

/**
 * Reads fidoServiceRevisionBitfield, checks it (BLE-VER-01: at least one byte, last byte not
 * 0x00) and writes the one chosen bit, as Chromium does before the first request. A device
 * without the characteristic (GATT error) is a 1.0 device: nothing is selected.
 */
export async function readRevisions(
  link: GattLink,
  wanted: U2fBleRevision | undefined,
  timeoutMs: number,
  log: TrafficLog | undefined,
): Promise<RevisionSelection> {
  let bitfield: Uint8Array;
  try {
    bitfield = await link.read(UUID.FIDO_SERVICE, UUID.SERVICE_REVISION_BITFIELD, { timeoutMs });
  } catch (error) {
    if (error instanceof GattError) {
      log?.note(
        'ble',
        `fidoServiceRevisionBitfield unreadable (ATT 0x${error.attCode.toString(16)}): U2F 1.0`,
      );
      return { bitfield: new Uint8Array(0), revision: undefined };
    }
    throw error;
  }
  log?.record('recv', 'ble', bitfield, 'fidoServiceRevisionBitfield');
  if (bitfield.length === 0 || bitfield[bitfield.length - 1] === 0) {
    throw deviceFault('fidoServiceRevisionBitfield: at least 1 byte, last byte not 00 (BLE-VER-01)', {
      actual: Array.from(bitfield),
    });
  }
  const bits = bitfield[0]!;
  const offered = (r: U2fBleRevision) => (bits & REVISION_BIT[r]) !== 0;
  if (!offered('u2f-1.2') && !offered('u2f-1.1')) {
    throw deviceFault('fidoServiceRevisionBitfield offers neither U2F 1.1 (0x80) nor U2F 1.2 (0x40)', {
      actual: bits,
    });
  }
  const revision = wanted ?? (offered('u2f-1.2') ? 'u2f-1.2' : 'u2f-1.1');
  if (!offered(revision)) {
    throw new TransportError(
      'UNAVAILABLE',
      `device does not offer ${revision} (bitfield 0x${bits.toString(16)})`,
    );
  }
  const selection = Uint8Array.of(REVISION_BIT[revision]);
  log?.record('send', 'ble', selection, `fidoServiceRevisionBitfield := ${revision}`);
  await link.write(UUID.FIDO_SERVICE, UUID.SERVICE_REVISION_BITFIELD, selection, { timeoutMs });
  return { bitfield, revision };
}
