/**
 * The BLE seam, device side: an emulated peripheral as a GATT database plus advertising.
 * Served to noble in process (a noble bindings object) or through an emulated HCI
 * controller on a pty (noble's own HCI/ATT/GATT stack). UUIDs are lowercase hex without
 * dashes, as noble writes them (the FIDO ones: rig/transport/ble/gatt-uuids.ts).
 */
export type CharacteristicProperty = 'read' | 'write' | 'writeWithoutResponse' | 'notify' | 'indicate';

export interface CharacteristicDef {
  uuid: string;
  properties: CharacteristicProperty[];
  /** Value for a read; an ATT error code (number) refuses it. */
  read?(): Uint8Array | number;
  /** Handles a write; returns an ATT error code to refuse it, or undefined to accept. */
  write?(data: Uint8Array, withoutResponse: boolean): number | undefined;
}

export interface ServiceDef {
  uuid: string;
  characteristics: CharacteristicDef[];
}

export interface AdvertisingData {
  localName: string;
  /** 16/128-bit service UUIDs in the advertisement (e.g. ['fffd']). */
  serviceUuids: string[];
  serviceData: { uuid: string; data: Uint8Array }[];
  /** Flags AD (bit 0 LE Limited, bit 1 LE General Discoverable, bit 2 BR/EDR not supported). */
  flags: number;
  connectable: boolean;
}

/** What the peripheral may do towards its connected central. */
export interface CentralSession {
  /** Sends a notification (only while the central has enabled them for that characteristic). */
  notify(service: string, characteristic: string, data: Uint8Array): void;
  /** The peripheral drops the link. */
  disconnect(reason?: string): void;
}

export interface VirtualPeripheral {
  /** 'aa:bb:cc:dd:ee:ff' */
  readonly address: string;
  advertising(): AdvertisingData;
  services(): ServiceDef[];
  /** Largest ATT MTU the peripheral accepts. */
  readonly maxMtu: number;
  /** A central connected; the session is how the peripheral talks back. */
  connect(session: CentralSession, mtu: number): void;
  /** The link is gone (either side). */
  disconnected(reason: string): void;
  /** The central enabled or disabled notifications on a characteristic. */
  subscribed(service: string, characteristic: string, on: boolean): void;
}
