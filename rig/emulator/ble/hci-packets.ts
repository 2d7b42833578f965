/**
 * H4 (UART transport, Core Vol 4 Part A) packet codecs for the emulated LE controller:
 * events to the host, a reassembler for what the host sends, and the advertising payload.
 * Pure functions; the controller (hci-controller.ts) decides what to send when.
 */
import type { AdvertisingData } from './peripheral.ts';

/** H4 packet indicators (Vol 4 Part A 2). */
export const H4 = { COMMAND: 0x01, ACL: 0x02, EVENT: 0x04 } as const;

/** Event codes (Vol 4 Part E 7.7). */
export const EVT = {
  DISCONNECTION_COMPLETE: 0x05,
  COMMAND_COMPLETE: 0x0e,
  COMMAND_STATUS: 0x0f,
  NUMBER_OF_COMPLETED_PACKETS: 0x13,
  LE_META: 0x3e,
} as const;

/** LE Meta subevents (Vol 4 Part E 7.7.65). */
export const LE_SUBEVENT = {
  CONNECTION_COMPLETE: 0x01,
  ADVERTISING_REPORT: 0x02,
  CONN_UPDATE_COMPLETE: 0x03,
} as const;

/** Error codes (Vol 1 Part F). */
export const HCI_STATUS = {
  SUCCESS: 0x00,
  UNKNOWN_CONNECTION_ID: 0x02,
  REMOTE_USER_TERMINATED: 0x13,
  LOCAL_HOST_TERMINATED: 0x16,
} as const;

/** Opcodes the controller answers with data (OGF << 10 | OCF, Vol 4 Part E 7). */
export const OP = {
  DISCONNECT: 0x0406,
  SET_EVENT_MASK: 0x0c01,
  RESET: 0x0c03,
  READ_LE_HOST_SUPPORTED: 0x0c6c,
  WRITE_LE_HOST_SUPPORTED: 0x0c6d,
  READ_LOCAL_VERSION: 0x1001,
  READ_LOCAL_SUPPORTED_COMMANDS: 0x1002,
  READ_BUFFER_SIZE: 0x1005,
  READ_BD_ADDR: 0x1009,
  READ_RSSI: 0x1405,
  LE_SET_EVENT_MASK: 0x2001,
  LE_READ_BUFFER_SIZE: 0x2002,
  LE_READ_LOCAL_SUPPORTED_FEATURES: 0x2003,
  LE_SET_SCAN_PARAMETERS: 0x200b,
  LE_SET_SCAN_ENABLE: 0x200c,
  LE_CREATE_CONNECTION: 0x200d,
  LE_CREATE_CONNECTION_CANCEL: 0x200e,
  LE_CONNECTION_UPDATE: 0x2013,
} as const;

/** Advertising report event types (Vol 4 Part E 7.7.65.2). */
export const ADV_TYPE = { ADV_IND: 0x00, ADV_NONCONN_IND: 0x03, SCAN_RSP: 0x04 } as const;

/** Legacy advertising and scan response payloads are at most 31 octets (Vol 6 Part B 2.3.1). */
const LEGACY_AD_MAX = 31;

function event(code: number, params: Uint8Array): Uint8Array {
  return Uint8Array.of(H4.EVENT, code, params.length, ...params);
}

function u16le(value: number): number[] {
  return [value & 0xff, (value >> 8) & 0xff];
}

/** 'aa:bb:cc:dd:ee:ff' to the 6 octets HCI carries, least significant first. */
export function addressBytes(address: string): Uint8Array {
  const parts = address.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p)))
    throw new RangeError(`address: not a BD_ADDR: ${address}`);
  return Uint8Array.from(parts.reverse().map((p) => Number.parseInt(p, 16)));
}

/** Vol 4 Part E 7.7.14. noble reads the opcode at octet 4 and the status at octet 6. */
export function commandComplete(opcode: number, status: number, result: ArrayLike<number> = []): Uint8Array {
  return event(EVT.COMMAND_COMPLETE, Uint8Array.of(1, ...u16le(opcode), status, ...Array.from(result)));
}

/** Vol 4 Part E 7.7.15. */
export function commandStatus(opcode: number, status: number): Uint8Array {
  return event(EVT.COMMAND_STATUS, Uint8Array.of(status, 1, ...u16le(opcode)));
}

/** Vol 4 Part E 7.7.5. */
export function disconnectionComplete(handle: number, reason: number): Uint8Array {
  return event(EVT.DISCONNECTION_COMPLETE, Uint8Array.of(HCI_STATUS.SUCCESS, ...u16le(handle), reason));
}

/** Vol 4 Part E 7.7.19: one handle, its completed packet count. */
export function numberOfCompletedPackets(handle: number, count: number): Uint8Array {
  return event(EVT.NUMBER_OF_COMPLETED_PACKETS, Uint8Array.of(1, ...u16le(handle), ...u16le(count)));
}

export interface ConnectionParams {
  status: number;
  handle: number;
  peerAddressType: number;
  /** 6 octets, least significant first. */
  peerAddress: Uint8Array;
  /** Units of 1.25 ms. */
  interval: number;
  latency: number;
  /** Units of 10 ms. */
  supervisionTimeout: number;
}

/** LE Connection Complete (Vol 4 Part E 7.7.65.1); role 0x00 = we are the Central's controller. */
export function leConnectionComplete(p: ConnectionParams): Uint8Array {
  const params = Uint8Array.of(
    LE_SUBEVENT.CONNECTION_COMPLETE,
    p.status,
    ...u16le(p.handle),
    0x00,
    p.peerAddressType,
    ...p.peerAddress,
    ...u16le(p.interval),
    ...u16le(p.latency),
    ...u16le(p.supervisionTimeout),
    0x00,
  );
  return event(EVT.LE_META, params);
}

/** A connection attempt that ended without a link (e.g. cancelled, 7.8.13): every field zero. */
export function leConnectionFailed(status: number): Uint8Array {
  const peerAddress = new Uint8Array(6);
  return leConnectionComplete({
    status,
    handle: 0,
    peerAddressType: 0,
    peerAddress,
    interval: 0,
    latency: 0,
    supervisionTimeout: 0,
  });
}

/** LE Connection Update Complete (Vol 4 Part E 7.7.65.3). */
export function leConnectionUpdateComplete(
  handle: number,
  interval: number,
  latency: number,
  timeout: number,
): Uint8Array {
  const params = [...u16le(handle), ...u16le(interval), ...u16le(latency), ...u16le(timeout)];
  return event(EVT.LE_META, Uint8Array.of(LE_SUBEVENT.CONN_UPDATE_COMPLETE, HCI_STATUS.SUCCESS, ...params));
}

/** One LE Advertising Report (Vol 4 Part E 7.7.65.2), public address. */
export function leAdvertisingReport(
  type: number,
  address: Uint8Array,
  data: Uint8Array,
  rssi: number,
): Uint8Array {
  const params = Uint8Array.of(
    LE_SUBEVENT.ADVERTISING_REPORT,
    1,
    type,
    0x00,
    ...address,
    data.length,
    ...data,
    rssi & 0xff,
  );
  return event(EVT.LE_META, params);
}

/** An ACL data packet carrying one whole L2CAP B-frame (Vol 4 Part E 5.4.2, Vol 3 Part A 3.1). */
export function aclPacket(handle: number, cid: number, payload: Uint8Array): Uint8Array {
  const l2capLength = payload.length + 4;
  // Packet_Boundary_Flag 0b10: first automatically flushable fragment; noble only accepts that.
  const out = new Uint8Array(5 + l2capLength);
  out.set([
    H4.ACL,
    ...u16le(handle | (0b10 << 12)),
    ...u16le(l2capLength),
    ...u16le(payload.length),
    ...u16le(cid),
  ]);
  out.set(payload, 9);
  return out;
}

/** 16-bit UUIDs little-endian, 128-bit UUIDs reversed (Vol 3 Part B 2.5.1). */
export function uuidBytes(uuid: string): Uint8Array {
  const clean = uuid.replace(/-/g, '').toLowerCase();
  if (!/^([0-9a-f]{4}|[0-9a-f]{32})$/.test(clean)) throw new RangeError(`uuid: not 16 or 128 bits: ${uuid}`);
  const bytes = clean.match(/../g)!.map((b) => Number.parseInt(b, 16));
  return Uint8Array.from(bytes.reverse());
}

function adStructure(type: number, data: ArrayLike<number>): Uint8Array {
  return Uint8Array.of(data.length + 1, type, ...Array.from(data));
}

/**
 * Advertising data and scan response (Core Supplement Part A 1): Flags, 16/128-bit service
 * UUID lists, 16-bit Service Data, Complete Local Name, packed in that order into the
 * 31-octet advertising payload; what does not fit spills into the scan response.
 */
export function advertisingPayloads(ad: AdvertisingData): { adv: Uint8Array; scanRsp: Uint8Array } {
  const structures: Uint8Array[] = [adStructure(0x01, [ad.flags & 0xff])];
  const short = ad.serviceUuids.filter((u) => u.replace(/-/g, '').length === 4);
  const long = ad.serviceUuids.filter((u) => u.replace(/-/g, '').length === 32);
  if (short.length > 0)
    structures.push(
      adStructure(
        0x03,
        short.flatMap((u) => [...uuidBytes(u)]),
      ),
    );
  if (long.length > 0)
    structures.push(
      adStructure(
        0x07,
        long.flatMap((u) => [...uuidBytes(u)]),
      ),
    );
  for (const sd of ad.serviceData) {
    const type = sd.uuid.replace(/-/g, '').length === 4 ? 0x16 : 0x21;
    structures.push(adStructure(type, [...uuidBytes(sd.uuid), ...sd.data]));
  }
  if (ad.localName) structures.push(adStructure(0x09, new TextEncoder().encode(ad.localName)));
  const adv: number[] = [];
  const scanRsp: number[] = [];
  for (const s of structures) {
    if (adv.length + s.length <= LEGACY_AD_MAX) adv.push(...s);
    else if (scanRsp.length + s.length <= LEGACY_AD_MAX) scanRsp.push(...s);
  }
  return { adv: Uint8Array.from(adv), scanRsp: Uint8Array.from(scanRsp) };
}

export type HostPacket =
  | { kind: 'command'; opcode: number; params: Uint8Array }
  | { kind: 'acl'; handle: number; boundary: number; data: Uint8Array };

/** Splits the host's H4 byte stream into commands and ACL packets (Vol 4 Part A 2). */
export class H4Reassembler {
  #buffer = new Uint8Array(0);

  push(chunk: Uint8Array): HostPacket[] {
    const merged = new Uint8Array(this.#buffer.length + chunk.length);
    merged.set(this.#buffer);
    merged.set(chunk, this.#buffer.length);
    const out: HostPacket[] = [];
    let at = 0;
    while (at < merged.length) {
      const type = merged[at]!;
      if (type !== H4.COMMAND && type !== H4.ACL) {
        at++; // not a packet start: skip the octet to resynchronise
        continue;
      }
      const headerLength = type === H4.COMMAND ? 4 : 5;
      if (merged.length - at < headerLength) break;
      const word = merged[at + 1]! | (merged[at + 2]! << 8);
      const length = type === H4.COMMAND ? merged[at + 3]! : merged[at + 3]! | (merged[at + 4]! << 8);
      if (merged.length - at < headerLength + length) break;
      const body = merged.slice(at + headerLength, at + headerLength + length);
      out.push(
        type === H4.COMMAND
          ? { kind: 'command', opcode: word, params: body }
          : { kind: 'acl', handle: word & 0x0fff, boundary: (word >> 12) & 0b11, data: body },
      );
      at += headerLength + length;
    }
    this.#buffer = merged.slice(at);
    return out;
  }
}
