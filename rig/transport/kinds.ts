import { z } from 'zod';

/**
 * The transport kinds the rig knows: how reports, the console and the suites name each, and
 * its letter in the catalogue's transport column ("H,N,B"). The three built-in kinds are
 * registered here; a station link module registers another (rig/station/links/registry.ts),
 * and everything that lists kinds (the matrix, --transport, station files) reads this.
 */

/** A transport kind's name: 'hid', 'nfc', 'ble', or a registered one. */
export type TransportKind = 'hid' | 'nfc' | 'ble' | (string & {});

export interface TransportKindInfo {
  readonly kind: TransportKind;
  /** How reports and the console name it ("USB HID"). */
  readonly name: string;
  /** Its letter in the catalogue's transport column. */
  readonly letter: string;
}

const kinds = new Map<TransportKind, TransportKindInfo>();

/** Names by kind, kept in step with the registry (transportName throws for an unknown kind). */
export const TRANSPORT_NAMES: Readonly<Record<TransportKind, string>> = {} as Record<TransportKind, string>;

export function registerTransportKind(info: TransportKindInfo): void {
  const known = kinds.get(info.kind);
  if (known && (known.name !== info.name || known.letter !== info.letter)) {
    throw new Error(`transport kind "${info.kind}" is already registered as ${known.name}`);
  }
  const clash = [...kinds.values()].find((k) => k.kind !== info.kind && k.letter === info.letter);
  if (clash) throw new Error(`transport kind "${info.kind}": letter ${info.letter} is ${clash.kind}'s`);
  kinds.set(info.kind, info);
  (TRANSPORT_NAMES as Record<TransportKind, string>)[info.kind] = info.name;
}

/** Every registered kind, in registration order (the built-ins first). */
export function transportKinds(): TransportKind[] {
  return [...kinds.keys()];
}

export function isTransportKind(kind: string): kind is TransportKind {
  return kinds.has(kind);
}

/** How reports and the console name a kind ("USB HID"). */
export function transportName(kind: TransportKind): string {
  const info = kinds.get(kind);
  if (!info) throw new Error(`unknown transport kind "${kind}"`);
  return info.name;
}

/** A transport kind in a configuration file: one that is registered when the file is read. */
export const transportKindSchema = z.custom<TransportKind>((v) => typeof v === 'string' && kinds.has(v), {
  error: (issue) => `unknown transport "${String(issue.input)}" (known: ${[...kinds.keys()].join(', ')})`,
});

export function transportLetter(kind: TransportKind): string {
  const info = kinds.get(kind);
  if (!info) throw new Error(`unknown transport kind "${kind}"`);
  return info.letter;
}

registerTransportKind({ kind: 'hid', name: 'USB HID', letter: 'H' });
registerTransportKind({ kind: 'nfc', name: 'NFC', letter: 'N' });
registerTransportKind({ kind: 'ble', name: 'Bluetooth LE', letter: 'B' });
