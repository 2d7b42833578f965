/**
 * The BLE seam, host side: a connected GATT link to one peripheral. Implemented by the
 * noble adapter (real adapters, or noble's own HCI stack over a UART) and used by
 * BleTransport. UUIDs are lowercase hex without dashes (noble's form): '180a',
 * 'f1d0fff123...'. Contract:
 * - every call has a deadline (`timeoutMs`, else the link's default) and rejects
 *   TransportError('TIMEOUT') on expiry;
 * - a peripheral that disconnects rejects pending and later calls with
 *   TransportError('DISCONNECTED') and fires `onDisconnect` listeners once;
 * - a GATT error answer (e.g. write not permitted, insufficient authentication) rejects
 *   with GattError carrying the ATT error code;
 * - `close` disconnects and is idempotent.
 */
export interface GattLink {
  readonly peripheral: PeripheralInfo;
  /** ATT MTU negotiated for this link (23 when none was exchanged). */
  readonly mtu: number;
  services(opts?: GattCallOptions): Promise<GattServiceInfo[]>;
  read(service: string, characteristic: string, opts?: GattCallOptions): Promise<Uint8Array>;
  write(
    service: string,
    characteristic: string,
    data: Uint8Array,
    opts?: GattCallOptions & { withoutResponse?: boolean },
  ): Promise<void>;
  /** Enables notifications; `onValue` gets each one in order. Resolves with the unsubscribe. */
  subscribe(
    service: string,
    characteristic: string,
    onValue: (data: Uint8Array) => void,
    opts?: GattCallOptions,
  ): Promise<() => Promise<void>>;
  onDisconnect(listener: (reason: string) => void): () => void;
  close(): Promise<void>;
}

/**
 * A GATT link as the station holds it: the link, and how to let go of everything behind it
 * (noble, and an emulated controller on the pty path). What rig/station/links.ts opens and
 * the tape records and replays.
 */
export interface BleLink {
  link: GattLink;
  /** Disconnects and releases noble (and the emulated controller, on the pty path). */
  close: () => Promise<void>;
}

export interface GattCallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface PeripheralInfo {
  /** noble's id: lowercase hex of the address without colons. */
  readonly id: string;
  readonly address: string;
  readonly name?: string;
}

export interface GattServiceInfo {
  uuid: string;
  characteristics: { uuid: string; properties: string[] }[];
}

/** What a scan saw of one advertiser (catalogue BLE-ADV-*). */
export interface Advertisement {
  readonly id: string;
  readonly address: string;
  readonly localName?: string;
  readonly serviceUuids: string[];
  /** Service data by 16/128-bit UUID (e.g. 'fffd' -> pairing flags byte). */
  readonly serviceData: { uuid: string; data: Uint8Array }[];
  readonly connectable: boolean;
  readonly rssi: number;
  /** The Flags AD byte when the scan backend reports it. */
  readonly flags?: number;
}

/** An ATT error answer (Bluetooth Core Vol 3 Part F 3.4.1.1), e.g. 0x05 insufficient authentication. */
export class GattError extends Error {
  readonly attCode: number;
  constructor(attCode: number, message: string) {
    super(message);
    this.name = 'GattError';
    this.attCode = attCode;
  }
}

/** A GATT link as a station holds it: the link, and how to let go of all behind it. */
export interface BleLink {
  link: GattLink;
  /** Disconnects and releases noble (and the emulated controller, on the pty path). */
  close: () => Promise<void>;
}
