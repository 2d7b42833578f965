import { hex } from '../../bytes.ts';
import { TransportError } from '../../errors.ts';
import type { TrafficLog } from '../../traffic.ts';
import { GattError, type GattLink } from './connection.ts';
import { UUID } from './gatt-uuids.ts';

export type U2fBleRevision = 'u2f-1.2' | 'u2f-1.1';

/** fidoServiceRevisionBitfield bits (catalogue §1.4, Chromium ServiceRevision). */
export const REVISION_BIT = { 'u2f-1.1': 0x80, 'u2f-1.2': 0x40, fido2: 0x20 } as const;

export interface RevisionSelection {
  /** The raw bitfield as read; empty when the characteristic is absent (a U2F 1.0 device). */
  bitfield: Uint8Array;
  revision: U2fBleRevision | undefined;
  /**
   * Set when the bitfield breaks BLE-VER-01 (empty, last byte 00, neither U2F bit): what it
   * read and that nothing was selected. The link goes on; BLE-VER-01 judges the value.
   */
  finding?: string;
}

/**
 * Reads fidoServiceRevisionBitfield, checks it (BLE-VER-01: at least one byte, last byte not
 * 0x00, U2F 1.1 or 1.2 offered) and writes the one chosen bit, as Chromium does before the
 * first request. A device without the characteristic (GATT error) is a 1.0 device: nothing
 * is selected. A bitfield that breaks BLE-VER-01 offers nothing to select: nothing is
 * written, and the finding says so (the case judges it; the link is still usable).
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
  const bits = bitfield[0] ?? 0;
  const offered = (r: U2fBleRevision) => (bits & REVISION_BIT[r]) !== 0;
  const broken =
    bitfield.length === 0 || bitfield[bitfield.length - 1] === 0
      ? 'not at least 1 byte with the last byte not 00'
      : !offered('u2f-1.2') && !offered('u2f-1.1')
        ? 'offering neither U2F 1.1 (0x80) nor U2F 1.2 (0x40)'
        : undefined;
  if (broken) {
    const finding = `fidoServiceRevisionBitfield reads ${hex(bitfield) || '(nothing)'}, ${broken} (BLE-VER-01): no revision selected`;
    return { bitfield, revision: undefined, finding };
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
