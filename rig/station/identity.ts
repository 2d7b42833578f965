/**
 * Which device a run tested: what it says of itself (USB descriptors, BLE Device
 * Information), its attestation certificate, and what the station file adds (batch,
 * hardware revision, firmware build). Read once when the station opens; shown in the
 * report's environment and recorded with every result, in JUnit, in recordings and in the
 * run's JSON files, so two runs can be told apart by firmware and serial.
 */
import { X509Certificate } from 'node:crypto';
import { attestationKeyIdentifier } from '../metadata/metadata.ts';
import type { HidDeviceInfo } from '../transport/hid/connection.ts';
import { deviceText } from '../untrusted.ts';

/** Field name → value, in a fixed order; device text already escaped (rig/untrusted.ts). */
export type DeviceIdentity = Record<string, string>;

/** The BLE Device Information strings (Bluetooth SIG DIS 0x180A) a device offers. */
export interface DeviceInformation {
  manufacturer?: string;
  model?: string;
  serial?: string;
  firmware?: string;
  hardware?: string;
}

/** What the station file says of its device (`identity:`), which no descriptor carries. */
export interface DeclaredIdentity {
  batch?: string | undefined;
  hardwareRevision?: string | undefined;
  firmwareBuild?: string | undefined;
}

export interface IdentitySources {
  usb?: HidDeviceInfo | undefined;
  dis?: DeviceInformation | undefined;
  /** The attestation certificate (DER), or why it was not read. */
  attestation?: Uint8Array | { notRead: string } | undefined;
  declared?: DeclaredIdentity | undefined;
}

/** The fields, in order, and the prefix a result's parameters give them. */
export const IDENTITY_FIELDS = [
  'USB manufacturer',
  'USB product',
  'USB vendor:product',
  'USB serial',
  'USB bcdDevice',
  'BLE manufacturer',
  'BLE model',
  'BLE serial',
  'BLE firmware revision',
  'BLE hardware revision',
  'attestation subject',
  'attestation serial',
  'attestation key id',
  'batch',
  'hardware revision',
  'firmware build',
] as const;

const hex4 = (n: number) => n.toString(16).padStart(4, '0');

/** bcdDevice as USB writes it (0x0123 is release 1.23) and as the raw field. */
function bcd(release: number): string {
  const major = (release >> 8).toString(16);
  const minor = (release & 0xff).toString(16).padStart(2, '0');
  return `${major}.${minor} (0x${hex4(release)})`;
}

/** The identity from what was read; absent sources leave their fields out. */
export function describeIdentity(s: IdentitySources): DeviceIdentity {
  const raw: Partial<Record<(typeof IDENTITY_FIELDS)[number], string | undefined>> = {};
  if (s.usb) {
    raw['USB manufacturer'] = s.usb.manufacturer;
    raw['USB product'] = s.usb.product;
    raw['USB vendor:product'] = `${hex4(s.usb.vendorId)}:${hex4(s.usb.productId)}`;
    raw['USB serial'] = s.usb.serialNumber ?? '(none)';
    if (s.usb.release !== undefined) raw['USB bcdDevice'] = bcd(s.usb.release);
  }
  if (s.dis) {
    raw['BLE manufacturer'] = s.dis.manufacturer;
    raw['BLE model'] = s.dis.model;
    raw['BLE serial'] = s.dis.serial;
    raw['BLE firmware revision'] = s.dis.firmware;
    raw['BLE hardware revision'] = s.dis.hardware;
  }
  if (s.attestation instanceof Uint8Array) {
    try {
      const cert = new X509Certificate(s.attestation);
      raw['attestation subject'] = cert.subject.replace(/\n/g, ', ');
      raw['attestation serial'] = cert.serialNumber.toLowerCase();
      raw['attestation key id'] = attestationKeyIdentifier(s.attestation);
    } catch (error) {
      raw['attestation subject'] = `(not a certificate: ${(error as Error).message})`;
    }
  } else if (s.attestation) {
    raw['attestation subject'] = `(not read: ${s.attestation.notRead})`;
  }
  raw.batch = s.declared?.batch;
  raw['hardware revision'] = s.declared?.hardwareRevision;
  raw['firmware build'] = s.declared?.firmwareBuild;
  const out: DeviceIdentity = {};
  for (const field of IDENTITY_FIELDS) {
    const value = raw[field];
    if (value !== undefined) out[field] = deviceText(value, 200);
  }
  return out;
}

/** The identity as a result's parameters: each field named "device: FIELD". */
export function identityParameters(identity: DeviceIdentity): Record<string, string> {
  return Object.fromEntries(Object.entries(identity).map(([k, v]) => [`device: ${k}`, v]));
}

/** One line for the console and notes: the fields that tell devices apart. */
export function identityLine(identity: DeviceIdentity): string {
  const pick = (...fields: string[]) => fields.map((f) => identity[f]).find((v) => v !== undefined);
  const parts = [
    pick('USB product', 'BLE model'),
    pick('USB serial', 'BLE serial') && `serial ${pick('USB serial', 'BLE serial')}`,
    pick('firmware build', 'BLE firmware revision', 'USB bcdDevice') &&
      `firmware ${pick('firmware build', 'BLE firmware revision', 'USB bcdDevice')}`,
    identity['attestation key id'] && `attestation key ${identity['attestation key id']}`,
  ].filter((p): p is string => Boolean(p));
  return parts.join(', ');
}
