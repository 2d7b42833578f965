import type { EmulatedChip } from '../../emulator/emulated-chip.ts';
import { ConfigError } from '../../errors.ts';
import type { Recorder } from '../../tape/recorder.ts';
import type { Replayer } from '../../tape/replayer.ts';
import type { TrafficLog } from '../../traffic.ts';
import { registerTransportKind, type TransportKindInfo } from '../../transport/kinds.ts';
import type { Transport, TransportKind } from '../../transport/transport.ts';
import type { DeviceSpec } from '../device-spec.ts';
import type { StationFile } from '../station-file.ts';
import type { DeviceTrouble } from '../trouble.ts';

/**
 * A station's link to the device over one transport kind. It owns the real, emulated,
 * recorded or replayed choice, opening (lazily), resetting and closing, and what the report
 * shows of the device. The station holds one per transport of the device and drives them
 * all alike; each kind is one module (hid.ts, nfc.ts, ble.ts) registered here.
 */
export interface Link {
  readonly kind: TransportKind;
  /** The transport, opened on first use (a TransportError when the device is not there). */
  open(): Promise<Transport>;
  /** The open transport, if there is one; never opens. */
  readonly current: Transport | undefined;
  /** Whether anything of the link is open (the transport, or a raw connection under it). */
  readonly isOpen: boolean;
  /** Closes everything; the next use opens afresh. Never throws. */
  close(): Promise<void>;
  /** For a reset: closes the link but keeps what serves the device (default: close). */
  drop?(): Promise<void>;
  /**
   * The device's power came back (an emulator power cycle, or the station's switch): bring
   * back what was open. `reopen` closes and reopens the link as the station does after a
   * fault; `reenumerates`: the device may take a while to come back (a relay, a USB boot).
   */
  powerRestored?(reopen: () => Promise<void>, reenumerates: boolean): Promise<void>;
  /**
   * The emulated chip is about to be used over `to` (it is on one link at a time, as a person
   * holds it); a link whose medium it leaves or enters acts (NFC: out of the field, or tapped).
   */
  chipGoesTo?(to: TransportKind): Promise<void>;
  /** What the report's environment shows of the device over this link. */
  facts(): Record<string, string>;
}

/** What a link module is given: the station's configuration and services. */
export interface LinkContext {
  readonly kind: TransportKind;
  readonly spec: DeviceSpec;
  readonly file: StationFile;
  readonly emulator: EmulatedChip | undefined;
  readonly traffic: TrafficLog;
  readonly record: Recorder | undefined;
  readonly replay: Replayer | undefined;
  /** Bluetooth controller (--hci), for links that need one. */
  readonly hci: string | undefined;
  /** The device is the emulated chip or a replay of a run against it. */
  readonly emulated: boolean;
  /** Notes a rig event in the traffic log and in any recording. */
  note(text: string): void;
  /** The catalogue ID of the case running now. */
  currentCase(): string | undefined;
  trouble(): DeviceTrouble | undefined;
  markTrouble(trouble: DeviceTrouble): void;
}

/** A transport kind the station can reach a device over: one module each. */
export interface LinkKind extends TransportKindInfo {
  /** Whether a device spec (other than the emulator and a replay) reaches the device over this transport. */
  serves(spec: DeviceSpec): boolean;
  /** Presence is the link's own gesture (NFC: the tap), not a button press. */
  readonly presenceIsTap?: boolean;
  create(ctx: LinkContext): Link;
}

const registry = new Map<TransportKind, LinkKind>();

/** Adds a transport kind: its names (reports, matrix, --transport) and its link module. */
export function registerLinkKind(kind: LinkKind): void {
  registerTransportKind(kind);
  registry.set(kind.kind, kind);
}

export function linkKind(kind: TransportKind): LinkKind {
  const k = registry.get(kind);
  if (!k)
    throw new ConfigError(
      `no link module for transport "${kind}" (known: ${[...registry.keys()].join(', ')})`,
    );
  return k;
}

export function linkKinds(): LinkKind[] {
  return [...registry.values()];
}

/** The transports a device is reached over: a recording's, the emulator's, or the spec's. */
export function transportsOf(
  spec: DeviceSpec,
  file: StationFile,
  recorded?: readonly TransportKind[],
): TransportKind[] {
  if (spec.kind === 'replay') return [...(recorded ?? [])];
  if (spec.kind === 'emulator') return [...(file.emulator?.transports ?? ['hid', 'nfc', 'ble'])];
  return linkKinds()
    .filter((k) => k.serves(spec))
    .map((k) => k.kind);
}

/** The device's transports, narrowed to `only` (--transport), which must all be among them. */
export function stationTransports(
  spec: DeviceSpec,
  file: StationFile,
  recorded: readonly TransportKind[] | undefined,
  only: readonly TransportKind[] | undefined,
): TransportKind[] {
  const all = transportsOf(spec, file, recorded);
  const missing = only?.filter((t) => !all.includes(t)) ?? [];
  if (missing.length > 0) {
    throw new ConfigError(
      `--transport: ${spec.text} on station "${file.name}" has no ${missing.join(', ')} (it has ${all.join(', ')})`,
    );
  }
  return only ? all.filter((t) => only.includes(t)) : all;
}

/**
 * A transport that stays valid across link resets and power cycles: each exchange goes to
 * whatever the link has open, through `use` (which opens it, and moves the emulated chip
 * onto it) unless it is open and nothing needs moving.
 */
export function linkTransport(
  link: Link,
  use: () => Promise<Transport>,
  chipHere?: () => boolean,
): Transport {
  return {
    kind: link.kind,
    exchange: (apdu, opts) => {
      const open = link.current;
      return open && (!chipHere || chipHere())
        ? open.exchange(apdu, opts)
        : use().then((t) => t.exchange(apdu, opts));
    },
    close: async () => undefined,
    get wire() {
      return link.current?.wire;
    },
  };
}
