/**
 * An ATT server (Core Vol 3 Part F) over a VirtualPeripheral's GATT database
 * (hci-gatt-db.ts), as the emulated HCI controller serves it on L2CAP CID 4.
 */
import { ATT_ERROR, type Attribute, GATT_TYPE, GattDatabase, typeKey, u16 } from './hci-gatt-db.ts';
import { uuidBytes } from './hci-packets.ts';
import type { ServiceDef } from './peripheral.ts';

export { ATT_ERROR } from './hci-gatt-db.ts';

/** ATT opcodes (Vol 3 Part F 3.4.8). */
export const ATT = {
  ERROR_RSP: 0x01,
  EXCHANGE_MTU_REQ: 0x02,
  EXCHANGE_MTU_RSP: 0x03,
  FIND_INFORMATION_REQ: 0x04,
  FIND_INFORMATION_RSP: 0x05,
  FIND_BY_TYPE_VALUE_REQ: 0x06,
  FIND_BY_TYPE_VALUE_RSP: 0x07,
  READ_BY_TYPE_REQ: 0x08,
  READ_BY_TYPE_RSP: 0x09,
  READ_REQ: 0x0a,
  READ_RSP: 0x0b,
  READ_BLOB_REQ: 0x0c,
  READ_BLOB_RSP: 0x0d,
  READ_BY_GROUP_TYPE_REQ: 0x10,
  READ_BY_GROUP_TYPE_RSP: 0x11,
  WRITE_REQ: 0x12,
  WRITE_RSP: 0x13,
  PREPARE_WRITE_REQ: 0x16,
  PREPARE_WRITE_RSP: 0x17,
  EXECUTE_WRITE_REQ: 0x18,
  EXECUTE_WRITE_RSP: 0x19,
  HANDLE_VALUE_NTF: 0x1b,
  HANDLE_VALUE_IND: 0x1d,
  HANDLE_VALUE_CFM: 0x1e,
  WRITE_CMD: 0x52,
} as const;

export const ATT_DEFAULT_MTU = 23;

const readU16 = (pdu: Uint8Array, at: number) => (pdu[at] ?? 0) | ((pdu[at + 1] ?? 0) << 8);

export function attError(opcode: number, handle: number, code: number): Uint8Array {
  return Uint8Array.of(ATT.ERROR_RSP, opcode, ...u16(handle), code);
}

export class AttServer {
  readonly #db: GattDatabase;
  readonly #prepared: { handle: number; offset: number; value: Uint8Array }[] = [];
  /** Effective ATT_MTU (Vol 3 Part F 3.2.8). */
  mtu = ATT_DEFAULT_MTU;

  constructor(
    services: ServiceDef[],
    /** Largest ATT_MTU the peripheral accepts. */
    private readonly maxMtu: number,
    onSubscribe: (service: string, characteristic: string, on: boolean) => void,
  ) {
    this.#db = new GattDatabase(services, onSubscribe);
  }

  /** Answers one client PDU; undefined for commands and confirmations, which get none. */
  handle(pdu: Uint8Array): Uint8Array | undefined {
    const opcode = pdu[0]!;
    switch (opcode) {
      case ATT.EXCHANGE_MTU_REQ:
        return this.#exchangeMtu(readU16(pdu, 1));
      case ATT.FIND_INFORMATION_REQ:
        return this.#findInformation(readU16(pdu, 1), readU16(pdu, 3));
      case ATT.FIND_BY_TYPE_VALUE_REQ:
        return this.#findByTypeValue(pdu);
      case ATT.READ_BY_TYPE_REQ:
        return this.#readByType(opcode, readU16(pdu, 1), readU16(pdu, 3), typeKey(pdu.subarray(5)));
      case ATT.READ_BY_GROUP_TYPE_REQ:
        return this.#readByGroupType(readU16(pdu, 1), readU16(pdu, 3), typeKey(pdu.subarray(5)));
      case ATT.READ_REQ:
      case ATT.READ_BLOB_REQ:
        return this.#read(opcode, readU16(pdu, 1), opcode === ATT.READ_BLOB_REQ ? readU16(pdu, 3) : 0);
      case ATT.WRITE_REQ:
      case ATT.WRITE_CMD:
        return this.#write(opcode, readU16(pdu, 1), pdu.slice(3));
      case ATT.PREPARE_WRITE_REQ:
        return this.#prepareWrite(pdu);
      case ATT.EXECUTE_WRITE_REQ:
        return this.#executeWrite(pdu[1] === 0x01);
      case ATT.HANDLE_VALUE_CFM:
        return undefined;
      default:
        // Commands (bit 6 set) are dropped silently; unknown requests are refused (3.4.1.1).
        return opcode & 0x40 ? undefined : attError(opcode, 0, ATT_ERROR.REQUEST_NOT_SUPPORTED);
    }
  }

  /**
   * Vol 3 Part F 3.4.2: we answer min(client, peripheral) as our Server Rx MTU, which the
   * spec allows and which keeps noble right (it adopts the server's value as the ATT_MTU).
   */
  #exchangeMtu(clientMtu: number): Uint8Array {
    this.mtu = Math.max(ATT_DEFAULT_MTU, Math.min(clientMtu, this.maxMtu));
    return Uint8Array.of(ATT.EXCHANGE_MTU_RSP, ...u16(this.mtu));
  }

  #inRange(start: number, end: number): Attribute[] {
    return this.#db.inRange(start, end);
  }

  #badRange(opcode: number, start: number, end: number): Uint8Array | undefined {
    return start === 0 || start > end ? attError(opcode, start, ATT_ERROR.INVALID_HANDLE) : undefined;
  }

  /** Vol 3 Part F 3.4.3.1: format 0x01 = 16-bit types, 0x02 = 128-bit; one format per response. */
  #findInformation(start: number, end: number): Uint8Array {
    const bad = this.#badRange(ATT.FIND_INFORMATION_REQ, start, end);
    if (bad) return bad;
    const found = this.#inRange(start, end);
    if (found.length === 0) return attError(ATT.FIND_INFORMATION_REQ, start, ATT_ERROR.ATTRIBUTE_NOT_FOUND);
    const short = found[0]!.type.length === 4;
    const out = [ATT.FIND_INFORMATION_RSP, short ? 0x01 : 0x02];
    for (const a of found) {
      const entry = [...u16(a.handle), ...uuidBytes(a.type)];
      if ((a.type.length === 4) !== short || out.length + entry.length > this.mtu) break;
      out.push(...entry);
    }
    return Uint8Array.from(out);
  }

  /** Vol 3 Part F 3.4.3.3, for Discover Primary Service by UUID (Vol 3 Part G 4.4.2). */
  #findByTypeValue(pdu: Uint8Array): Uint8Array {
    const [start, end] = [readU16(pdu, 1), readU16(pdu, 3)];
    const bad = this.#badRange(ATT.FIND_BY_TYPE_VALUE_REQ, start, end);
    if (bad) return bad;
    const type = typeKey(pdu.subarray(5, 7));
    const value = Array.from(pdu.subarray(7)).join();
    const out: number[] = [ATT.FIND_BY_TYPE_VALUE_RSP];
    for (const a of this.#inRange(start, end)) {
      const v = a.read();
      if (a.type !== type || typeof v === 'number' || Array.from(v).join() !== value) continue;
      if (out.length + 4 > this.mtu) break;
      out.push(...u16(a.handle), ...u16(a.groupEnd ?? a.handle));
    }
    return out.length > 1
      ? Uint8Array.from(out)
      : attError(ATT.FIND_BY_TYPE_VALUE_REQ, start, ATT_ERROR.ATTRIBUTE_NOT_FOUND);
  }

  /** Vol 3 Part F 3.4.4.1: entries of one length only, values cut to min(ATT_MTU - 4, 253). */
  #readByType(opcode: number, start: number, end: number, type: string): Uint8Array {
    const bad = this.#badRange(opcode, start, end);
    if (bad) return bad;
    const out: number[] = [ATT.READ_BY_TYPE_RSP, 0];
    for (const a of this.#inRange(start, end).filter((x) => x.type === type)) {
      const value = a.read();
      if (typeof value === 'number')
        return out.length > 2 ? Uint8Array.from(out) : attError(opcode, a.handle, value);
      const cut = value.subarray(0, Math.min(this.mtu - 4, 253));
      if (out[1] === 0) out[1] = cut.length + 2;
      if (out[1] !== cut.length + 2 || out.length + out[1] > this.mtu) break;
      out.push(...u16(a.handle), ...cut);
    }
    return out.length > 2 ? Uint8Array.from(out) : attError(opcode, start, ATT_ERROR.ATTRIBUTE_NOT_FOUND);
  }

  /** Vol 3 Part F 3.4.4.9: only grouping types (primary/secondary service) are allowed. */
  #readByGroupType(start: number, end: number, type: string): Uint8Array {
    const opcode = ATT.READ_BY_GROUP_TYPE_REQ;
    const bad = this.#badRange(opcode, start, end);
    if (bad) return bad;
    if (type !== GATT_TYPE.PRIMARY_SERVICE && type !== GATT_TYPE.SECONDARY_SERVICE)
      return attError(opcode, start, ATT_ERROR.UNSUPPORTED_GROUP_TYPE);
    const out: number[] = [ATT.READ_BY_GROUP_TYPE_RSP, 0];
    for (const a of this.#inRange(start, end).filter((x) => x.type === type)) {
      const value = a.read() as Uint8Array;
      if (out[1] === 0) out[1] = value.length + 4;
      if (out[1] !== value.length + 4 || out.length + out[1] > this.mtu) break;
      out.push(...u16(a.handle), ...u16(a.groupEnd!), ...value);
    }
    return out.length > 2 ? Uint8Array.from(out) : attError(opcode, start, ATT_ERROR.ATTRIBUTE_NOT_FOUND);
  }

  /** Read (3.4.4.3) and Read Blob (3.4.4.5). */
  #read(opcode: number, handle: number, offset: number): Uint8Array {
    const attribute = this.#db.find(handle);
    if (!attribute) return attError(opcode, handle, ATT_ERROR.INVALID_HANDLE);
    const value = attribute.read();
    if (typeof value === 'number') return attError(opcode, handle, value);
    if (offset > value.length) return attError(opcode, handle, ATT_ERROR.INVALID_OFFSET);
    const rsp = opcode === ATT.READ_REQ ? ATT.READ_RSP : ATT.READ_BLOB_RSP;
    return Uint8Array.of(rsp, ...value.subarray(offset, offset + this.mtu - 1));
  }

  /** Write Request (3.4.5.1) and Write Command (3.4.5.3, never answered). */
  #write(opcode: number, handle: number, data: Uint8Array): Uint8Array | undefined {
    const attribute = this.#db.find(handle);
    const withoutResponse = opcode === ATT.WRITE_CMD;
    const code = !attribute
      ? ATT_ERROR.INVALID_HANDLE
      : attribute.write
        ? attribute.write(data, withoutResponse)
        : ATT_ERROR.WRITE_NOT_PERMITTED;
    if (withoutResponse) return undefined;
    return code === undefined ? Uint8Array.of(ATT.WRITE_RSP) : attError(opcode, handle, code);
  }

  /** Prepare Write (3.4.6.1): queued and echoed; applied on Execute Write (3.4.6.3). */
  #prepareWrite(pdu: Uint8Array): Uint8Array {
    const handle = readU16(pdu, 1);
    const attribute = this.#db.find(handle);
    if (!attribute) return attError(ATT.PREPARE_WRITE_REQ, handle, ATT_ERROR.INVALID_HANDLE);
    if (!attribute.write) return attError(ATT.PREPARE_WRITE_REQ, handle, ATT_ERROR.WRITE_NOT_PERMITTED);
    this.#prepared.push({ handle, offset: readU16(pdu, 3), value: pdu.slice(5) });
    return Uint8Array.of(ATT.PREPARE_WRITE_RSP, ...pdu.subarray(1));
  }

  #executeWrite(commit: boolean): Uint8Array {
    const queue = this.#prepared.splice(0);
    const handles = [...new Set(queue.map((q) => q.handle))];
    for (const handle of commit ? handles : []) {
      const parts = queue.filter((q) => q.handle === handle).sort((a, b) => a.offset - b.offset);
      const value = new Uint8Array(Math.max(...parts.map((p) => p.offset + p.value.length)));
      for (const p of parts) value.set(p.value, p.offset);
      const code = this.#db.find(handle)!.write!(value, false);
      if (code !== undefined) return attError(ATT.EXECUTE_WRITE_REQ, handle, code);
    }
    return Uint8Array.of(ATT.EXECUTE_WRITE_RSP);
  }

  /**
   * A Handle Value Notification (3.4.7.1), or an Indication (3.4.7.2) when the client enabled
   * only indications; undefined while the client has enabled neither. Cut to ATT_MTU - 3.
   */
  valueUpdate(service: string, characteristic: string, data: Uint8Array): Uint8Array | undefined {
    const { valueHandle, bits } = this.#db.configuration(service, characteristic);
    if (bits === 0) return undefined;
    const opcode = bits & 0b01 ? ATT.HANDLE_VALUE_NTF : ATT.HANDLE_VALUE_IND;
    return Uint8Array.of(opcode, ...u16(valueHandle), ...data.subarray(0, this.mtu - 3));
  }
}
