/**
 * A VirtualPeripheral's GATT database as ATT attributes (Core Vol 3 Part G 3). Handles are
 * built deterministically from services() in order, starting at 0x0001: per service its
 * declaration, then per characteristic its declaration, its value and, for notify/indicate,
 * a Client Characteristic Configuration descriptor (0x2902). The same definition always
 * yields the same handles.
 */
import { uuidBytes } from './hci-packets.ts';
import type { CharacteristicDef, ServiceDef } from './peripheral.ts';

/** ATT error codes (Vol 3 Part F 3.4.1.1). */
export const ATT_ERROR = {
  INVALID_HANDLE: 0x01,
  READ_NOT_PERMITTED: 0x02,
  WRITE_NOT_PERMITTED: 0x03,
  REQUEST_NOT_SUPPORTED: 0x06,
  INVALID_OFFSET: 0x07,
  ATTRIBUTE_NOT_FOUND: 0x0a,
  INVALID_ATTRIBUTE_VALUE_LENGTH: 0x0d,
  UNSUPPORTED_GROUP_TYPE: 0x10,
} as const;

/** GATT attribute types (Vol 3 Part G 3), as type keys. */
export const GATT_TYPE = {
  PRIMARY_SERVICE: '2800',
  SECONDARY_SERVICE: '2801',
  CHARACTERISTIC: '2803',
  CCCD: '2902',
};
const BASE_UUID_TAIL = '00001000800000805f9b34fb';
/** Characteristic Properties bits (Vol 3 Part G 3.3.1.1). */
const PROPERTY_BITS = { read: 0x02, writeWithoutResponse: 0x04, write: 0x08, notify: 0x10, indicate: 0x20 };

export interface Attribute {
  handle: number;
  /** Type key: lowercase hex, 4 digits for 16-bit (and Bluetooth Base UUID) types. */
  type: string;
  /** Last handle of the group (service declarations only). */
  groupEnd?: number;
  /** The value, or an ATT error code refusing the read. */
  read(): Uint8Array | number;
  /** Absent: not writable. Returns an ATT error code to refuse. */
  write?(data: Uint8Array, withoutResponse: boolean): number | undefined;
}

interface CharacteristicEntry {
  service: string;
  def: CharacteristicDef;
  valueHandle: number;
  cccdHandle?: number;
}

function key(uuid: string): string {
  return uuid.replace(/-/g, '').toLowerCase();
}

/** A type as it arrives in a request (2 or 16 octets, little-endian) to its key. */
export function typeKey(bytes: Uint8Array): string {
  const text = Array.from(bytes, (b) => b.toString(16).padStart(2, '0'))
    .reverse()
    .join('');
  return text.length === 32 && text.startsWith('0000') && text.endsWith(BASE_UUID_TAIL)
    ? text.slice(4, 8)
    : text;
}

export const u16 = (v: number): number[] => [v & 0xff, v >> 8];

export class GattDatabase {
  readonly attributes: Attribute[] = [];
  readonly #characteristics: CharacteristicEntry[] = [];
  readonly #cccd = new Map<number, number>();

  constructor(
    services: ServiceDef[],
    private readonly onSubscribe: (service: string, characteristic: string, on: boolean) => void,
  ) {
    for (const service of services) this.#addService(service);
  }

  find(handle: number): Attribute | undefined {
    return this.attributes.find((a) => a.handle === handle);
  }

  inRange(start: number, end: number): Attribute[] {
    return this.attributes.filter((a) => a.handle >= start && a.handle <= end);
  }

  /** The value handle and CCCD bits (bit 0 notify, bit 1 indicate) of a characteristic. */
  configuration(service: string, characteristic: string): { valueHandle: number; bits: number } {
    const entry = this.#characteristics.find(
      (c) => c.service === key(service) && key(c.def.uuid) === key(characteristic),
    );
    if (!entry) throw new RangeError(`characteristic: ${characteristic} not in service ${service}`);
    const bits = entry.cccdHandle === undefined ? 0 : (this.#cccd.get(entry.cccdHandle) ?? 0);
    return { valueHandle: entry.valueHandle, bits };
  }

  #addService(service: ServiceDef): void {
    const value = uuidBytes(service.uuid);
    const declaration: Attribute = {
      handle: this.#next(),
      type: GATT_TYPE.PRIMARY_SERVICE,
      read: () => value,
    };
    this.attributes.push(declaration);
    for (const def of service.characteristics) this.#addCharacteristic(key(service.uuid), def);
    declaration.groupEnd = this.attributes.at(-1)!.handle;
  }

  /** Declaration (3.3.1), value (3.3.2) and, for notify/indicate, CCCD (3.3.3.3). */
  #addCharacteristic(service: string, def: CharacteristicDef): void {
    const declHandle = this.#next();
    const valueHandle = declHandle + 1;
    const props = def.properties.reduce((bits, p) => bits | PROPERTY_BITS[p], 0);
    const declValue = Uint8Array.of(props, ...u16(valueHandle), ...uuidBytes(def.uuid));
    this.attributes.push({ handle: declHandle, type: GATT_TYPE.CHARACTERISTIC, read: () => declValue });
    const readable = def.properties.includes('read');
    const writable = def.properties.includes('write') || def.properties.includes('writeWithoutResponse');
    this.attributes.push({
      handle: valueHandle,
      type: typeKey(uuidBytes(def.uuid)),
      read: () => (readable ? (def.read?.() ?? new Uint8Array(0)) : ATT_ERROR.READ_NOT_PERMITTED),
      write: (data, withoutResponse) =>
        writable ? def.write?.(data, withoutResponse) : ATT_ERROR.WRITE_NOT_PERMITTED,
    });
    const entry: CharacteristicEntry = { service, def, valueHandle };
    if (def.properties.includes('notify') || def.properties.includes('indicate')) {
      const handle = this.#next();
      entry.cccdHandle = handle;
      this.attributes.push({
        handle,
        type: GATT_TYPE.CCCD,
        read: () => Uint8Array.of(...u16(this.#cccd.get(handle) ?? 0)),
        write: (data) => this.#writeCccd(entry, data),
      });
    }
    this.#characteristics.push(entry);
  }

  #next(): number {
    return (this.attributes.at(-1)?.handle ?? 0) + 1;
  }

  /** Vol 3 Part G 3.3.3.3: two octets; the peripheral hears when notifications turn on or off. */
  #writeCccd(entry: CharacteristicEntry, data: Uint8Array): number | undefined {
    if (data.length !== 2) return ATT_ERROR.INVALID_ATTRIBUTE_VALUE_LENGTH;
    const before = (this.#cccd.get(entry.cccdHandle!) ?? 0) & 0b11;
    const after = data[0]! & 0b11;
    this.#cccd.set(entry.cccdHandle!, after);
    if ((before !== 0) !== (after !== 0)) this.onSubscribe(entry.service, key(entry.def.uuid), after !== 0);
    return undefined;
  }
}
