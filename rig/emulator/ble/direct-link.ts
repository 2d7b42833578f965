import { TransportError } from '../../errors.ts';
import {
  type GattCallOptions,
  GattError,
  type GattLink,
  type GattServiceInfo,
  type PeripheralInfo,
} from '../../transport/ble/connection.ts';
import { uuidKey } from '../../transport/ble/gatt-uuids.ts';
import type { CharacteristicDef, VirtualPeripheral } from './peripheral.ts';

export interface DirectLinkOptions {
  /** ATT MTU to negotiate; default the peripheral's maximum. */
  mtu?: number;
}

/** ATT error codes (Bluetooth Core Vol 3 Part F 3.4.1.1) the link itself raises. */
export const ATT = {
  READ_NOT_PERMITTED: 0x02,
  WRITE_NOT_PERMITTED: 0x03,
  REQUEST_NOT_SUPPORTED: 0x06,
  ATTRIBUTE_NOT_FOUND: 0x0a,
  INVALID_ATTRIBUTE_VALUE_LENGTH: 0x0d,
} as const;

/** Longest attribute value (Core Vol 3 Part F 3.2.9); longer writes need no long-write emulation. */
const MAX_ATTRIBUTE_LENGTH = 512;

/**
 * An in-process GattLink straight onto a VirtualPeripheral: no radio, no HCI, no noble. The
 * simplest emulated path and the one the unit tests use; it still enforces the ATT rules
 * that matter to FIDO BLE (properties, MTU, notifications only while subscribed).
 * Notifications are delivered asynchronously and in order, as a real link would.
 */
export function connectDirect(peripheral: VirtualPeripheral, options: DirectLinkOptions = {}): GattLink {
  const mtu = options.mtu ?? peripheral.maxMtu;
  if (!Number.isInteger(mtu) || mtu < 23)
    throw new RangeError(`options.mtu: must be an integer >= 23: ${mtu}`);
  return new DirectLink(peripheral, Math.min(mtu, peripheral.maxMtu));
}

class DirectLink implements GattLink {
  readonly peripheral: PeripheralInfo;
  readonly mtu: number;
  readonly #device: VirtualPeripheral;
  readonly #listeners = new Map<string, (data: Uint8Array) => void>();
  readonly #onDisconnect = new Set<(reason: string) => void>();
  #gone: string | undefined;

  constructor(device: VirtualPeripheral, mtu: number) {
    this.#device = device;
    this.mtu = mtu;
    const address = device.address.toLowerCase();
    this.peripheral = { id: address.replace(/:/g, ''), address, name: device.advertising().localName };
    device.connect(
      {
        notify: (service, characteristic, data) => this.#deliver(service, characteristic, data),
        disconnect: (reason = 'peripheral disconnected') => this.#drop(reason, false),
      },
      mtu,
    );
  }

  async services(_opts?: GattCallOptions): Promise<GattServiceInfo[]> {
    this.#check();
    return this.#device.services().map((s) => ({
      uuid: uuidKey(s.uuid),
      characteristics: s.characteristics.map((c) => ({
        uuid: uuidKey(c.uuid),
        properties: [...c.properties],
      })),
    }));
  }

  async read(service: string, characteristic: string, _opts?: GattCallOptions): Promise<Uint8Array> {
    const def = this.#find(service, characteristic);
    if (!def.properties.includes('read') || !def.read) throw attError(ATT.READ_NOT_PERMITTED, 'read', def);
    const value = def.read();
    if (typeof value === 'number') throw attError(value, 'read', def);
    return Uint8Array.from(value);
  }

  async write(
    service: string,
    characteristic: string,
    data: Uint8Array,
    opts?: GattCallOptions & { withoutResponse?: boolean },
  ): Promise<void> {
    const def = this.#find(service, characteristic);
    const withoutResponse = opts?.withoutResponse ?? false;
    const property = withoutResponse ? 'writeWithoutResponse' : 'write';
    if (!def.properties.includes(property) || !def.write)
      throw attError(ATT.WRITE_NOT_PERMITTED, property, def);
    // A Write Command carries at most MTU − 3 bytes; a Write Request may be a long write.
    const limit = withoutResponse ? this.mtu - 3 : MAX_ATTRIBUTE_LENGTH;
    if (data.length > limit)
      throw attError(ATT.INVALID_ATTRIBUTE_VALUE_LENGTH, `${property} of ${data.length}`, def);
    const refused = def.write(Uint8Array.from(data), withoutResponse);
    // A Write Command has no response: the peripheral's refusal never reaches the host.
    if (refused !== undefined && !withoutResponse) throw attError(refused, property, def);
  }

  async subscribe(
    service: string,
    characteristic: string,
    onValue: (data: Uint8Array) => void,
    _opts?: GattCallOptions,
  ): Promise<() => Promise<void>> {
    const def = this.#find(service, characteristic);
    if (!def.properties.includes('notify') && !def.properties.includes('indicate')) {
      throw attError(ATT.REQUEST_NOT_SUPPORTED, 'subscribe', def);
    }
    const id = `${uuidKey(service)}/${uuidKey(characteristic)}`;
    this.#listeners.set(id, onValue);
    this.#device.subscribed(uuidKey(service), uuidKey(characteristic), true);
    return async () => {
      if (this.#listeners.get(id) !== onValue) return;
      this.#listeners.delete(id);
      if (this.#gone === undefined) this.#device.subscribed(uuidKey(service), uuidKey(characteristic), false);
    };
  }

  onDisconnect(listener: (reason: string) => void): () => void {
    this.#onDisconnect.add(listener);
    return () => this.#onDisconnect.delete(listener);
  }

  async close(): Promise<void> {
    this.#drop('central closed the link', true);
  }

  #deliver(service: string, characteristic: string, data: Uint8Array): void {
    if (this.#gone !== undefined) return;
    const listener = this.#listeners.get(`${uuidKey(service)}/${uuidKey(characteristic)}`);
    if (!listener) return; // not subscribed: nothing goes on the air
    const copy = Uint8Array.from(data.subarray(0, this.mtu - 3)); // ATT truncates to MTU − 3
    queueMicrotask(() => {
      if (this.#gone === undefined) listener(copy);
    });
  }

  #drop(reason: string, byCentral: boolean): void {
    if (this.#gone !== undefined) return;
    this.#gone = reason;
    this.#listeners.clear();
    if (byCentral) this.#device.disconnected(reason);
    else queueMicrotask(() => this.#device.disconnected(reason));
    for (const listener of this.#onDisconnect) listener(reason);
    this.#onDisconnect.clear();
  }

  #check(): void {
    if (this.#gone !== undefined) throw new TransportError('DISCONNECTED', `BLE link: ${this.#gone}`);
  }

  #find(service: string, characteristic: string): CharacteristicDef {
    this.#check();
    const s = this.#device.services().find((x) => uuidKey(x.uuid) === uuidKey(service));
    const c = s?.characteristics.find((x) => uuidKey(x.uuid) === uuidKey(characteristic));
    if (!c) throw new GattError(ATT.ATTRIBUTE_NOT_FOUND, `no characteristic ${service}/${characteristic}`);
    return c;
  }
}

function attError(code: number, what: string, def: CharacteristicDef): GattError {
  return new GattError(code, `${what} on ${def.uuid}: ATT error 0x${code.toString(16).padStart(2, '0')}`);
}
