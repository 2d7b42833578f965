import { EventEmitter } from 'node:events';
import { UUID, uuidKey } from '../../transport/ble/gatt-uuids.ts';
import type { BlePacer } from '../timing/pacers.ts';
import type { CentralSession, CharacteristicDef, VirtualPeripheral } from './peripheral.ts';

/**
 * A noble bindings object serving VirtualPeripherals in process (emulation.md "BLE: noble",
 * Path A): `new Noble(new EmulatedBleBindings([p]))` runs noble's real Peripheral /
 * Service / Characteristic code with no radio. Commands come down as method calls, answers
 * go up as events keyed by peripheral id, with the argument orders of
 * lib/hci-socket/bindings.js. Every answer is emitted on a later microtask, as a real
 * binding answers later, yet without timers, so a round trip stays in the microseconds and
 * nothing here keeps the process alive. Buffer appears only on the noble side of this file.
 */

/** ATT error codes (Core Vol 3 Part F 3.4.1.1) this binding answers by itself. */
const ATT = { INVALID_HANDLE: 0x01, READ_NOT_PERMITTED: 0x02, WRITE_NOT_PERMITTED: 0x03, NOT_FOUND: 0x0a };
/** noble's hci-socket binding asks for 256 in its Exchange MTU Request; do the same. */
const HOST_MTU = 256;
const CCCD = '2902';

/** The error a binding hands noble for an ATT error answer; `attCode` keeps the code. */
export function attError(attCode: number, what: string): Error & { attCode: number } {
  const code = `0x${attCode.toString(16).padStart(2, '0')}`;
  return Object.assign(new Error(`${what}: ATT error ${code}`), { attCode });
}

interface Link {
  readonly peripheral: VirtualPeripheral;
  readonly subscribed: Set<string>;
  /** Notifications raised inside a write handler wait for its Write Response, as on air. */
  held: (() => void)[] | undefined;
  open: boolean;
}

export class EmulatedBleBindings extends EventEmitter {
  readonly #peripherals = new Map<string, VirtualPeripheral>();
  readonly #links = new Map<string, Link>();
  readonly #rssi: number;
  #powered = false;
  #scanUuids: string[] | undefined;

  /** Connection-interval pacing of writes and notifications; absent: answers on the next microtask. */
  readonly #pacer: BlePacer | undefined;

  constructor(peripherals: VirtualPeripheral[] = [], opts: { rssi?: number; pacer?: BlePacer } = {}) {
    super();
    this.#rssi = opts.rssi ?? -42;
    this.#pacer = opts.pacer;
    for (const p of peripherals) this.add(p);
  }

  /** Starts advertising a peripheral (a scan in progress sees it at once). */
  add(peripheral: VirtualPeripheral): void {
    const id = this.addressToId(peripheral.address);
    this.#peripherals.set(id, peripheral);
    if (this.#scanUuids) this.#later(() => this.#advertise(id, peripheral));
  }

  addressToId(address: string): string {
    return address.replace(/:/g, '').toLowerCase();
  }

  // ---- adapter ----
  start(): void {
    this.#powered = true;
    this.#later(() => {
      this.emit('addressChange', '00:00:00:00:00:00');
      this.emit('stateChange', 'poweredOn');
    });
  }
  init(): void {
    this.start();
  }
  /** Drops every link and powers off; noble then reports poweredOff and refuses to scan. */
  stop(): void {
    for (const id of [...this.#links.keys()]) this.#drop(id, 'local host stopped');
    this.#scanUuids = undefined;
    this.#powered = false;
    this.#later(() => this.emit('stateChange', 'poweredOff'));
  }
  reset(): void {
    this.stop();
  }
  setScanParameters(): void {
    this.#later(() => this.emit('scanParametersSet'));
  }
  setAddress(address: string): void {
    this.#later(() => this.emit('addressChange', address));
  }

  // ---- GAP ----
  startScanning(serviceUuids?: string[], allowDuplicates = false): void {
    if (!this.#powered) return;
    this.#scanUuids = (serviceUuids ?? []).map(uuidKey);
    this.#later(() => {
      this.emit('scanStart', !allowDuplicates);
      for (const [id, p] of this.#peripherals) if (!this.#links.has(id)) this.#advertise(id, p);
    });
  }
  stopScanning(): void {
    this.#scanUuids = undefined;
    this.#later(() => this.emit('scanStop'));
  }
  /** Sends every idle peripheral's advertisement again (a scan with duplicates sees it twice). */
  readvertise(): void {
    for (const [id, p] of this.#peripherals)
      if (!this.#links.has(id)) this.#later(() => this.#advertise(id, p));
  }

  #advertise(id: string, p: VirtualPeripheral): void {
    const adv = p.advertising();
    const uuids = [...adv.serviceUuids, ...adv.serviceData.map((d) => d.uuid)].map(uuidKey);
    const filter = this.#scanUuids;
    if (!filter || (filter.length > 0 && !uuids.some((u) => filter.includes(u)))) return;
    const advertisement = {
      localName: adv.localName,
      serviceUuids: adv.serviceUuids.map(uuidKey),
      serviceData: adv.serviceData.map((d) => ({ uuid: uuidKey(d.uuid), data: Buffer.from(d.data) })),
      manufacturerData: undefined,
      txPowerLevel: undefined,
      serviceSolicitationUuids: [],
      // Not a noble field (its HCI GAP drops the Flags AD); scanFido reads it when present.
      flags: adv.flags,
    };
    // A connectable undirected advertisement answers scan requests, so it is scannable too.
    this.emit(
      'discover',
      id,
      p.address.toLowerCase(),
      'random',
      adv.connectable,
      advertisement,
      this.#rssi,
      adv.connectable,
    );
  }

  connect(id: string): void {
    const p = this.#peripherals.get(id);
    const refused = !this.#powered
      ? 'adapter is not powered on'
      : !p
        ? 'no such peripheral'
        : !p.advertising().connectable
          ? 'not connectable'
          : this.#links.has(id)
            ? 'already connected'
            : undefined;
    if (refused || !p) {
      this.#later(() => this.emit('connect', id, new Error(`cannot connect to ${id}: ${refused}`)));
      return;
    }
    const link: Link = { peripheral: p, subscribed: new Set(), held: undefined, open: true };
    this.#links.set(id, link);
    const mtu = Math.min(HOST_MTU, p.maxMtu);
    p.connect(this.#session(id, link), mtu);
    this.#later(() => {
      this.emit('onMtu', id, mtu);
      this.emit('connect', id, null);
    });
  }
  cancelConnect(): void {}
  disconnect(id: string): void {
    // 0x16: Connection Terminated By Local Host, what the HCI binding reports here.
    this.#drop(id, 0x16);
  }
  updateRssi(id: string): void {
    this.#later(() => this.emit('rssiUpdate', id, this.#rssi));
  }

  #session(id: string, link: Link): CentralSession {
    return {
      notify: (service, characteristic, data) => {
        const key = `${uuidKey(service)}/${uuidKey(characteristic)}`;
        if (!link.open || !link.subscribed.has(key)) return;
        const copy = Buffer.from(data);
        const emit = () => this.emit('read', id, uuidKey(service), uuidKey(characteristic), copy, true);
        const pacer = this.#pacer;
        const send = pacer
          ? () =>
              pacer.notification(copy, uuidKey(characteristic) === UUID.STATUS, () => {
                if (link.open) emit();
              })
          : () => this.#later(emit);
        if (link.held) link.held.push(send);
        else send();
      },
      // 0x13: Remote User Terminated Connection, as a real peripheral's LL_TERMINATE_IND says.
      // The link closes at once: a request being handled now never gets its response.
      disconnect: (reason) => this.#drop(id, reason ?? 0x13),
    };
  }

  #drop(id: string, reason: string | number): void {
    const link = this.#links.get(id);
    if (!link) return;
    link.open = false;
    this.#links.delete(id);
    // Deferred so a peripheral dropping the link from inside a handler is not re-entered.
    this.#later(() => {
      link.peripheral.disconnected(String(reason));
      this.emit('disconnect', id, reason);
    });
  }

  // ---- GATT ----
  discoverServices(id: string, uuids?: string[]): void {
    const wanted = (uuids ?? []).map(uuidKey);
    const all =
      this.#links
        .get(id)
        ?.peripheral.services()
        .map((s) => uuidKey(s.uuid)) ?? [];
    const found = wanted.length ? all.filter((u) => wanted.includes(u)) : all;
    this.#later(() => this.emit('servicesDiscover', id, found));
  }
  discoverIncludedServices(id: string, service: string): void {
    this.#later(() => this.emit('includedServicesDiscover', id, service, []));
  }
  discoverCharacteristics(id: string, service: string, uuids?: string[]): void {
    const wanted = (uuids ?? []).map(uuidKey);
    const defs = this.#links
      .get(id)
      ?.peripheral.services()
      .find((s) => uuidKey(s.uuid) === service)?.characteristics;
    const chars = (defs ?? [])
      .map((c) => ({ uuid: uuidKey(c.uuid), properties: [...c.properties] }))
      .filter((c) => !wanted.length || wanted.includes(c.uuid));
    this.#later(() => this.emit('characteristicsDiscover', id, service, chars));
  }

  read(id: string, service: string, char: string): void {
    const def = this.#char(id, service, char);
    const value =
      def?.read && def.properties.includes('read')
        ? def.read()
        : def
          ? ATT.READ_NOT_PERMITTED
          : ATT.NOT_FOUND;
    // noble's Characteristic.read callback takes the error as the 6th argument of 'read'.
    const answer =
      typeof value === 'number'
        ? [null, false, attError(value, `read ${char}`)]
        : [Buffer.from(value), false];
    if (this.#links.get(id)?.open) this.#later(() => this.emit('read', id, service, char, ...answer));
  }

  write(id: string, service: string, char: string, data: Uint8Array, withoutResponse: boolean): void {
    const pacer = this.#pacer;
    if (!pacer) {
      this.#write(id, service, char, data, withoutResponse);
      return;
    }
    // A timed link: the PDU reaches the chip one connection event later. A Write Command's
    // callback fires once it is handed to the link; a Write Request's with its Write Response.
    const copy = new Uint8Array(data);
    pacer.hostWrites(copy, uuidKey(char) === UUID.CONTROL_POINT, () =>
      this.#write(id, service, char, copy, withoutResponse),
    );
  }

  #write(id: string, service: string, char: string, data: Uint8Array, withoutResponse: boolean): void {
    const link = this.#links.get(id);
    const def = this.#char(id, service, char);
    const allowed = def?.properties.includes(withoutResponse ? 'writeWithoutResponse' : 'write');
    let code: number | undefined = def ? (allowed ? undefined : ATT.WRITE_NOT_PERMITTED) : ATT.NOT_FOUND;
    const held: (() => void)[] = [];
    if (code === undefined && def?.write && link) {
      link.held = held;
      try {
        code = def.write(new Uint8Array(data), withoutResponse);
      } finally {
        link.held = undefined;
      }
    }
    // A Write Command has no response on air: the central only learns it was sent.
    const error = code !== undefined && !withoutResponse ? attError(code, `write ${char}`) : undefined;
    if (!link?.open) return; // dropped while handling (or never there): no response, as on air
    const respond = () => this.emit('write', id, service, char, error);
    if (this.#pacer && !withoutResponse) this.#pacer.writeResponse(() => link.open && respond());
    else this.#later(respond);
    for (const send of held) send();
  }

  broadcast(id: string, service: string, char: string): void {
    this.#later(() => this.emit('broadcast', id, service, char, false));
  }

  notify(id: string, service: string, char: string, on: boolean): void {
    const link = this.#links.get(id);
    const def = this.#char(id, service, char);
    if (!link || !def || !(def.properties.includes('notify') || def.properties.includes('indicate'))) {
      const error = attError(def ? ATT.WRITE_NOT_PERMITTED : ATT.NOT_FOUND, `notify ${char}`);
      this.#later(() => this.emit('notify', id, service, char, false, error));
      return;
    }
    this.#setSubscribed(link, service, char, on);
    this.#later(() => this.emit('notify', id, service, char, on));
  }

  #setSubscribed(link: Link, service: string, char: string, on: boolean): void {
    const key = `${service}/${char}`;
    if (link.subscribed.has(key) === on) return;
    if (on) link.subscribed.add(key);
    else link.subscribed.delete(key);
    link.peripheral.subscribed(service, char, on);
  }

  discoverDescriptors(id: string, service: string, char: string): void {
    const def = this.#char(id, service, char);
    const notifies = def?.properties.some((p) => p === 'notify' || p === 'indicate');
    this.#later(() => this.emit('descriptorsDiscover', id, service, char, notifies ? [CCCD] : []));
  }
  /** Only the CCCD exists (Core Vol 3 Part G 3.3.3.3): bit 0 notifications, bit 1 indications. */
  readValue(id: string, service: string, char: string, descriptor: string): void {
    const link = this.#links.get(id);
    const on = link?.subscribed.has(`${service}/${char}`) ? 1 : 0;
    const answer =
      link && descriptor === CCCD
        ? [Buffer.of(on, 0)]
        : [null, attError(ATT.NOT_FOUND, `read ${descriptor}`)];
    this.#later(() => this.emit('valueRead', id, service, char, descriptor, ...answer));
  }
  writeValue(id: string, service: string, char: string, descriptor: string, data: Uint8Array): void {
    const link = this.#links.get(id);
    if (link && descriptor === CCCD && this.#char(id, service, char)) {
      this.#setSubscribed(link, service, char, ((data[0] ?? 0) & 0x03) !== 0);
      this.#later(() => this.emit('valueWrite', id, service, char, descriptor));
    } else {
      const error = attError(ATT.NOT_FOUND, `write ${descriptor}`);
      this.#later(() => this.emit('valueWrite', id, service, char, descriptor, error));
    }
  }
  /** This binding has no attribute handles: raw handle access answers Invalid Handle. */
  readHandle(id: string, handle: number): void {
    this.#later(() =>
      this.emit('handleRead', id, handle, null, attError(ATT.INVALID_HANDLE, `read handle ${handle}`)),
    );
  }
  writeHandle(id: string, handle: number): void {
    this.#later(() =>
      this.emit('handleWrite', id, handle, attError(ATT.INVALID_HANDLE, `write handle ${handle}`)),
    );
  }

  #char(id: string, service: string, char: string): CharacteristicDef | undefined {
    const svc = this.#links
      .get(id)
      ?.peripheral.services()
      .find((s) => uuidKey(s.uuid) === service);
    return svc?.characteristics.find((c) => uuidKey(c.uuid) === char);
  }

  /** Emits on a later microtask: FIFO like a link, no timer to keep the loop alive. */
  #later(fn: () => void): void {
    queueMicrotask(fn);
  }
}
