import { MAX_CONTROL_POINT_LENGTH, MIN_CONTROL_POINT_LENGTH } from '../../transport/ble/fragments.ts';
import { UUID, uuidKey } from '../../transport/ble/gatt-uuids.ts';
import type { PresenceSource } from '../presence.ts';
import {
  type ControlPointDisputed,
  type ControlPointFaults,
  FidoControlPoint,
  type U2fCore,
} from './fido-control-point.ts';
import type {
  AdvertisingData,
  CentralSession,
  CharacteristicDef,
  ServiceDef,
  VirtualPeripheral,
} from './peripheral.ts';

export interface FidoBlePeripheralOptions {
  core: U2fCore;
  /** The chip's button: BLE needs a press per signature (mitid-chip.md). */
  presence: PresenceSource;
  /** Random static address (two top bits set). */
  address?: string;
  name?: string;
  /** fidoControlPointLength 20..512; capped by the link's ATT MTU − 3 while connected. */
  controlPointLength?: number;
  /** fidoServiceRevisionBitfield: 0x80 U2F 1.1, 0x40 U2F 1.2. */
  revisions?: number;
  pairingMode?: boolean;
  keepaliveMs?: number;
  presenceTimeoutMs?: number;
  /** Silence after an incomplete request before ERR_REQ_TIMEOUT (BLE-TMO-01). */
  requestTimeoutMs?: number;
  /** Longest request accepted; longer ones are answered ERR_INVALID_LEN (BLE-PING-03). */
  maxMessageLength?: number;
  /** Battery level in percent (Battery Service 0x2A19). */
  battery?: () => number;
  deviceInfo?: {
    manufacturer?: string;
    model?: string;
    serial?: string;
    firmware?: string;
    hardware?: string;
  };
  maxMtu?: number;
  faults?: FidoBleFaults;
  disputed?: FidoBleDisputed;
}

/** Deliberate non-conformances (rig/emulator/faults.ts) of the chip's FIDO service. */
export interface FidoBleFaults extends ControlPointFaults {
  /**
   * fidoControlPointLength reads this (e.g. 10, below the 20 BLE-GATT-03 requires), while
   * the chip still takes and sends fragments of its real length.
   */
  controlPointLengthReads?: number;
  /** fidoServiceRevisionBitfield reads this byte (e.g. 0, which BLE-VER-01 forbids). */
  revisionBitfieldReads?: number;
}

/** Sanctioned answers on disputed points (first: the default), rig/emulator/disputed.ts. */
export interface FidoBleDisputed extends ControlPointDisputed {
  /** BLE-GATT-04: fidoServiceRevision 0x2A28 present (reads "1.0") or absent (FIDO BLE 1.2). */
  serviceRevision?: 'present' | 'absent';
}

/** ATT application error (0x80..0x9F) for a refused revision selection (BLE-VER-03). */
export const ATT_REVISION_REFUSED = 0x80;
/** Service Data flag (UUID FFFD): in pairing mode (catalogue §1.4, BLE-ADV-02). */
export const SERVICE_DATA_PAIRING = 0x80;
const FLAG_LE_GENERAL = 0x02;
const FLAG_NO_BREDR = 0x04;
const text = (value: string) => new TextEncoder().encode(value);
const key = (service: string, characteristic: string) => `${uuidKey(service)}/${uuidKey(characteristic)}`;

/**
 * The emulated MitID chip over BLE: the FIDO service (0xFFFD), Device Information and
 * Battery, around the same U2F core as the HID and NFC front-ends. The control point
 * protocol lives in FidoControlPoint; this class owns the GATT database and the link.
 */
export class FidoBlePeripheral implements VirtualPeripheral {
  readonly address: string;
  readonly name: string;
  readonly maxMtu: number;
  readonly revisions: number;
  pairingMode: boolean;
  /** The revision bit the central selected (BLE-VER-02), 0 before any selection. */
  selectedRevision = 0;
  readonly #controlPointLength: number;
  readonly #battery: () => number;
  readonly #info: {
    manufacturer: string;
    model: string;
    serial?: string;
    firmware: string;
    hardware?: string;
  };
  readonly #controlPoint: FidoControlPoint;
  readonly #faults: FidoBleFaults;
  readonly #disputed: FidoBleDisputed;
  #session: CentralSession | undefined;
  #mtu = 23;
  readonly #subscriptions = new Set<string>();

  constructor(opts: FidoBlePeripheralOptions) {
    if (typeof opts?.core !== 'function') throw new TypeError('opts.core: must be a function');
    if (typeof opts.presence?.onPress !== 'function')
      throw new TypeError('opts.presence: not a PresenceSource');
    const cpl = opts.controlPointLength ?? MIN_CONTROL_POINT_LENGTH;
    if (!Number.isInteger(cpl) || cpl < MIN_CONTROL_POINT_LENGTH || cpl > MAX_CONTROL_POINT_LENGTH) {
      throw new RangeError(`opts.controlPointLength: must be an integer 20..512: ${cpl}`);
    }
    this.address = (opts.address ?? 'c0:ff:ee:00:00:01').toLowerCase();
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(this.address)) {
      throw new RangeError(`opts.address: not aa:bb:cc:dd:ee:ff: ${opts.address}`);
    }
    this.name = opts.name ?? 'MitID chip';
    this.maxMtu = opts.maxMtu ?? 517;
    this.revisions = opts.revisions ?? 0x40 | 0x80;
    this.pairingMode = opts.pairingMode ?? false;
    this.#controlPointLength = cpl;
    this.#battery = opts.battery ?? (() => 100);
    this.#faults = opts.faults ?? {};
    this.#disputed = opts.disputed ?? {};
    this.#info = { manufacturer: 'Emulated', model: 'MitID chip', firmware: '1.0.0', ...opts.deviceInfo };
    this.#controlPoint = new FidoControlPoint({
      core: opts.core,
      presence: opts.presence,
      controlPointLength: () => this.controlPointLength,
      notify: (frame) => this.#notify(UUID.FIDO_SERVICE, UUID.STATUS, frame),
      keepaliveMs: opts.keepaliveMs ?? 500,
      presenceTimeoutMs: opts.presenceTimeoutMs ?? 30_000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 3000,
      maxMessageLength: opts.maxMessageLength ?? 4096,
      faults: opts.faults ?? {},
      disputed: opts.disputed ?? {},
    });
  }

  /** The length in force: the configured one, capped by the ATT MTU so a notification fits. */
  get controlPointLength(): number {
    return Math.max(MIN_CONTROL_POINT_LENGTH, Math.min(this.#controlPointLength, this.#mtu - 3));
  }

  get connected(): boolean {
    return this.#session !== undefined;
  }

  /** True while a REGISTER/AUTHENTICATE waits for the button. */
  get waitingForPress(): boolean {
    return this.#controlPoint.waitingForPress;
  }

  advertising(): AdvertisingData {
    // BLE-ADV-01/02: discoverable flags and the FFFD pairing bit only in pairing mode;
    // the service data itself is present in both modes (BLE-ADV-03).
    return {
      localName: this.name,
      serviceUuids: [UUID.FIDO_SERVICE],
      serviceData: [
        { uuid: UUID.FIDO_SERVICE, data: Uint8Array.of(this.pairingMode ? SERVICE_DATA_PAIRING : 0) },
      ],
      flags: FLAG_NO_BREDR | (this.pairingMode ? FLAG_LE_GENERAL : 0),
      connectable: true,
    };
  }

  services(): ServiceDef[] {
    return [this.#fidoService(), this.#deviceInformation(), this.#batteryService()];
  }

  connect(session: CentralSession, mtu: number): void {
    this.#controlPoint.reset();
    this.#subscriptions.clear();
    this.#session = session;
    this.#mtu = Math.min(mtu, this.maxMtu);
  }

  disconnected(_reason: string): void {
    this.#controlPoint.reset();
    this.#subscriptions.clear();
    this.#session = undefined;
    this.selectedRevision = 0;
  }

  subscribed(service: string, characteristic: string, on: boolean): void {
    if (on) this.#subscriptions.add(key(service, characteristic));
    else this.#subscriptions.delete(key(service, characteristic));
  }

  /** Notifies the battery level to a subscribed central (call after the level changed). */
  notifyBattery(): void {
    this.#notify(UUID.BATTERY_SERVICE, UUID.BATTERY_LEVEL, this.#batteryLevel());
  }

  #notify(service: string, characteristic: string, data: Uint8Array): void {
    // Only while the central has enabled notifications (CCCD); otherwise the frame is lost.
    if (this.#session && this.#subscriptions.has(key(service, characteristic))) {
      this.#session.notify(service, characteristic, data);
    }
  }

  #batteryLevel(): Uint8Array {
    const level = Math.round(this.#battery());
    return Uint8Array.of(Number.isFinite(level) ? Math.min(100, Math.max(0, level)) : 0);
  }

  #fidoService(): ServiceDef {
    const controlPoint: CharacteristicDef = {
      uuid: UUID.CONTROL_POINT,
      properties: ['write', 'writeWithoutResponse'],
      write: (data) => {
        const copy = Uint8Array.from(data);
        const session = this.#session;
        // Answer after the ATT write response has gone out, as a real stack would.
        setImmediate(() => {
          if (this.#session === session && session) this.#controlPoint.write(copy);
        });
        return undefined;
      },
    };
    return {
      uuid: UUID.FIDO_SERVICE,
      characteristics: [
        controlPoint,
        { uuid: UUID.STATUS, properties: ['notify'] },
        {
          uuid: UUID.CONTROL_POINT_LENGTH,
          properties: ['read'],
          read: () => {
            const cpl = this.#faults.controlPointLengthReads ?? this.controlPointLength;
            return Uint8Array.of(cpl >>> 8, cpl & 0xff);
          },
        },
        {
          uuid: UUID.SERVICE_REVISION_BITFIELD,
          properties: ['read', 'write'],
          read: () => Uint8Array.of(this.#faults.revisionBitfieldReads ?? this.revisions),
          write: (data) => this.#selectRevision(data),
        },
        // BLE-GATT-04 (disputed): a FIDO BLE 1.2 device may leave 0x2A28 out.
        ...(this.#disputed.serviceRevision === 'absent'
          ? []
          : [
              {
                uuid: UUID.SERVICE_REVISION,
                properties: ['read'],
                read: () => text('1.0'),
              } as CharacteristicDef,
            ]),
      ],
    };
  }

  /** BLE-VER-02/03: exactly one byte with exactly one supported bit. */
  #selectRevision(data: Uint8Array): number | undefined {
    const bit = data[0] ?? 0;
    const single = bit !== 0 && (bit & (bit - 1)) === 0;
    if (data.length !== 1 || !single || (bit & this.revisions) === 0) return ATT_REVISION_REFUSED;
    this.selectedRevision = bit;
    return undefined;
  }

  #deviceInformation(): ServiceDef {
    const readOnly = (uuid: string, value: string): CharacteristicDef => ({
      uuid,
      properties: ['read'],
      read: () => text(value),
    });
    return {
      uuid: UUID.DEVICE_INFORMATION,
      characteristics: [
        readOnly(UUID.MANUFACTURER_NAME, this.#info.manufacturer),
        readOnly(UUID.MODEL_NUMBER, this.#info.model),
        ...(this.#info.serial === undefined ? [] : [readOnly(UUID.SERIAL_NUMBER, this.#info.serial)]),
        readOnly(UUID.FIRMWARE_REVISION, this.#info.firmware),
        ...(this.#info.hardware === undefined ? [] : [readOnly(UUID.HARDWARE_REVISION, this.#info.hardware)]),
      ],
    };
  }

  #batteryService(): ServiceDef {
    return {
      uuid: UUID.BATTERY_SERVICE,
      characteristics: [
        { uuid: UUID.BATTERY_LEVEL, properties: ['read', 'notify'], read: () => this.#batteryLevel() },
      ],
    };
  }
}
