import { resolve } from 'node:path';
import type { EmulatedChip } from '../emulator/emulated-chip.ts';
import { ConfigError } from '../errors.ts';
import { loadMetadata, type Metadata } from '../metadata/metadata.ts';
import { hostRandomBytes } from '../random.ts';
import type { Tape } from '../tape/recorder.ts';
import { Replayer } from '../tape/replayer.ts';
import { TrafficLog } from '../traffic.ts';
import type { BleTransport } from '../transport/ble/ble-transport.ts';
import type { Advertisement, GattLink } from '../transport/ble/connection.ts';
import { UUID } from '../transport/ble/gatt-uuids.ts';
import type { HidTransport } from '../transport/hid/hid-transport.ts';
import type { CardConnection } from '../transport/nfc/connection.ts';
import type { NfcTransport } from '../transport/nfc/nfc-transport.ts';
import type { Transport, TransportKind } from '../transport/transport.ts';
import type { AttestationRoot } from '../u2f/attestation-chain.ts';
import { U2fClient } from '../u2f/u2f-client.ts';
import { deviceText } from '../untrusted.ts';
import { type DeviceProfile, loadDeviceProfile } from './device-profile.ts';
import { type DeviceSpec, parseDeviceSpec } from './device-spec.ts';
import { makeEmulator } from './emulated.ts';
import {
  type DeclaredIdentity,
  type DeviceIdentity,
  describeIdentity,
  IDENTITY_FIELDS,
  type IdentitySources,
} from './identity.ts';
import { InstrumentSet } from './instrument-set.ts';
import type { StationInstruments } from './instruments.ts';
import { type FidoBleLink, nobleSource } from './links/ble.ts';
import type { HidLink } from './links/hid.ts';
import { type Link, linkKind, linkKinds, linkTransport, stationTransports } from './links/index.ts';
import type { NfcLink } from './links/nfc.ts';
import { type HostPlatform, hostPlatform, reportedPlatform, unsupportedReason } from './platform.ts';
import type { PresenceController } from './presence.ts';
import { stationPresence } from './presence-setup.ts';
import { attestationRootsFor, chooseProfile, type ProfileChoice } from './profile-choice.ts';
import { loadStationFile, type StationFile } from './station-file.ts';
import type { StationOptions } from './station-options.ts';
import { type DeviceTrouble, troubleError } from './trouble.ts';

/**
 * The one place that chooses real or emulated (architecture.md). Suites get transports,
 * the U2F client, presence and the profile from here, never from an adapter. Each transport
 * is a link module (links/): the station assembles them and drives them alike, and keeps
 * presence, power and instruments.
 */
export class Station {
  readonly presence: PresenceController;
  readonly traffic = new TrafficLog();
  readonly transports: readonly TransportKind[];
  /** The host platform the run is judged by (the device profile's platforms). */
  readonly platform: HostPlatform;
  /** Facts learnt during the run for the report's environment (e.g. the attestation subject). */
  readonly facts: Record<string, string> = {};
  /** Which device profile is in force, and why (printed at the start and in the report). */
  readonly profileChoice: ProfileChoice;
  readonly profile: DeviceProfile;
  /** How long the perf suite's soak runs (--duration); absent: no soak. */
  soakMs: number | undefined;
  /** The catalogue ID of the case running now (set by the case wrapper), for `since`. */
  currentCase: string | undefined;
  readonly #instruments: InstrumentSet;
  readonly #links = new Map<TransportKind, Link>();
  readonly #u2f = new Map<TransportKind, U2fClient>();
  /** Why the device cannot be tested over a transport any more, and since when. */
  readonly #trouble = new Map<TransportKind, DeviceTrouble>();
  #roots: AttestationRoot[] | undefined;
  #metadata: Promise<Metadata | undefined> | undefined;
  #identity: DeviceIdentity = {};
  /** The link the emulated chip was last moved to (see #link). */
  #chipAt: TransportKind | undefined;

  private constructor(
    readonly file: StationFile,
    readonly deviceSpec: DeviceSpec,
    readonly emulator: EmulatedChip | undefined,
    readonly replay: Replayer | undefined,
    private readonly opts: StationOptions,
  ) {
    this.profileChoice = chooseProfile(file, deviceSpec, opts.profile, replay?.header.profile);
    this.profile = loadDeviceProfile(this.profileChoice.path);
    if (replay && opts.record) {
      throw new ConfigError('--record: a replay is already a recording; record the original device instead');
    }
    this.transports = stationTransports(deviceSpec, file, replay?.header.transports, opts.transports);
    if (opts.hci) nobleSource(opts.hci); // check the flag before opening anything
    // No actuator: ask the operator, unless every link's presence is its own gesture (NFC:
    // the tap), where nothing needs pressing.
    this.presence = stationPresence({
      file,
      spec: deviceSpec,
      emulator,
      replay,
      profile: this.profile,
      traffic: this.traffic,
      mode: opts.presence,
      buttonNeeded: this.transports.some((t) => !linkKind(t).presenceIsTap),
      prompt: opts.prompt,
      reach: () => ({
        touchFifo: () => this.#link('hid').then((l) => (l as HidLink).touchFifo()),
        presser: () => this.openInstruments().then((i) => i.presser),
      }),
    });
    this.platform = hostPlatform(this.profile, reportedPlatform(opts.platform, replay, file));
    this.soakMs = opts.soakMs;
    this.#instruments = new InstrumentSet(file.instruments, emulator);
    const { record, hci } = opts;
    const base = { spec: deviceSpec, file, emulator, traffic: this.traffic, replay, record, hci };
    // In registry order (USB, NFC, BLE), whatever the device's: power and close go that way.
    for (const { kind } of linkKinds().filter((k) => this.transports.includes(k.kind))) {
      const ctx = { ...base, kind, emulated: this.emulated, note: (text: string) => this.#note(text) };
      this.#links.set(
        kind,
        linkKind(kind).create({
          ...ctx,
          currentCase: () => this.currentCase,
          trouble: () => this.#trouble.get(kind),
          markTrouble: (trouble) => this.markTrouble(kind, trouble),
        }),
      );
    }
  }

  /** Loads and checks the configuration (ConfigError), then opens the device (TransportError). */
  static async open(opts: StationOptions = {}): Promise<Station> {
    const loaded = loadStationFile(opts.stationFile);
    const file = opts.exchangeTimeoutMs
      ? { ...loaded, timeouts: { ...loaded.timeouts, exchangeMs: opts.exchangeTimeoutMs } }
      : loaded;
    const spec = parseDeviceSpec(
      opts.device ?? file.device,
      opts.device ? '--device' : `${file.path}: field "device"`,
    );
    const emulator =
      spec.kind === 'emulator' ? makeEmulator(file, spec.fault, opts.emulatorMasterKey) : undefined;
    const replay = spec.kind === 'replay' ? Replayer.load(spec.path) : undefined;
    const station = new Station(file, spec, emulator, replay, opts);
    try {
      // Open every link now, so an absent device is reported before any test runs; not the
      // links the host platform cannot use (their tests are skipped).
      // A device that answers, wrongly, is not an absent one: the tests judge it (see trouble).
      for (const kind of station.transports) {
        if (station.unsupported(kind)) continue;
        await station.#use(kind).catch((error) => {
          if (!station.#trouble.has(kind)) throw error;
        });
      }
      station.#identity = await station.#readIdentity();
    } catch (error) {
      await station.close();
      throw error;
    }
    return station;
  }

  get name(): string {
    return this.file.name;
  }

  /** Why the device cannot be tested over `kind` on the host platform; undefined when it can. */
  unsupported(kind: TransportKind): string | undefined {
    return unsupportedReason(this.profile, this.platform, kind);
  }

  /** The link over `kind`, with the emulated chip moved onto it (it is on one link at a time). */
  async #link<L extends Link = Link>(kind: TransportKind, move = true): Promise<L> {
    const link = this.#links.get(kind);
    if (!link)
      throw new ConfigError(`station "${this.name}": ${this.deviceSpec.text} has no ${kind} transport`);
    // The emulated chip is on one link at a time; moving it is only needed when it is elsewhere
    // (every use of a link comes through here with `move`, so the cache follows it).
    if (move && this.emulated && this.#chipAt !== kind) {
      for (const l of this.#links.values()) await l.chipGoesTo?.(kind);
      this.#chipAt = kind;
    }
    return link as L;
  }

  async #use(kind: TransportKind): Promise<Transport> {
    return (await this.#link(kind)).open();
  }

  // The links' own accessors, for the suites that work below the U2F client.
  hid = () => this.#use('hid') as Promise<HidTransport>;
  rawHidConnection = () => this.#link<HidLink>('hid').then((l) => l.raw());
  nfc = () => this.#use('nfc') as Promise<NfcTransport>;
  cardConnection = (): Promise<CardConnection> => this.#link<NfcLink>('nfc').then((l) => l.card());
  ble = () => this.#use('ble') as Promise<BleTransport>;
  bleLink = (): Promise<GattLink> => this.#link<FidoBleLink>('ble').then((l) => l.gatt());
  /** What a scanning central sees of the device (BLE-ADV-*); the BLE link is dropped first. */
  bleScan = (timeoutMs = 3000): Promise<Advertisement[]> =>
    this.#link<FidoBleLink>('ble', false).then((l) => l.scan(timeoutMs));
  fieldCycle = () => this.#link<NfcLink>('nfc').then((l) => l.fieldCycle());
  /** Whether the rig can put the device in and out of pairing mode itself (the emulated chip). */
  get canSetPairingMode(): boolean {
    return (this.#links.get('ble') as FidoBleLink | undefined)?.canSetPairingMode ?? false;
  }
  setPairingMode(on: boolean): void {
    if (!this.canSetPairingMode) throw new ConfigError(`station "${this.name}" cannot switch pairing mode`);
    (this.#links.get('ble') as FidoBleLink).setPairingMode(on);
  }

  /** Why the device cannot be tested over `kind` (gone, stuck, no channel), if it cannot. */
  trouble(kind: TransportKind): DeviceTrouble | undefined {
    return this.#trouble.get(kind);
  }

  /** Records that the device cannot be tested over `kind` any more; the first reason stays. */
  markTrouble(kind: TransportKind, trouble: DeviceTrouble): void {
    if (this.#trouble.has(kind)) return;
    this.#trouble.set(kind, trouble);
    this.#note(`${kind}: ${troubleError(trouble).message}`);
  }

  /** What tells the suites and the rig what kind of device this is: a recording, the emulator's. */
  get tape(): Tape | undefined {
    return this.opts.record ?? this.replay;
  }

  /** The device is the emulated chip, or a replay of a run against it (the suites take its branches). */
  get emulated(): boolean {
    return this.emulator !== undefined || this.replay?.header.emulated === true;
  }

  #note(text: string): void {
    this.traffic.note('rig', text);
    this.opts.record?.note(text);
  }

  /** The default U2F client: over the station's first transport. */
  async u2f(): Promise<U2fClient> {
    return this.u2fOver(this.transports[0]!);
  }

  /** The U2F client over one transport; valid across link resets and power cycles (linkTransport). */
  async u2fOver(kind: TransportKind): Promise<U2fClient> {
    await this.#link(kind);
    let client = this.#u2f.get(kind);
    if (!client) {
      const transport = linkTransport(
        this.#links.get(kind)!,
        () => this.#use(kind),
        this.emulated ? () => this.#chipAt === kind : undefined,
      );
      client = new U2fClient(transport, linkKind(kind).presenceIsTap ? undefined : this.presence);
      this.#u2f.set(kind, client);
    }
    // A device found unusable over this link is judged by its cases; the client stays.
    if (!this.unsupported(kind) && !this.#trouble.has(kind)) await this.#use(kind);
    return client;
  }

  /** The attestation roots named for this device (see attestationRootsFor), read on first use. */
  attestationRoots(): AttestationRoot[] {
    this.#roots ??= attestationRootsFor(this.file, this.profile, this.profileChoice);
    return this.#roots;
  }

  /**
   * Where the device's FIDO metadata comes from: --metadata, else the station file's for
   * its own device (a device named by hand is another product); undefined: none named.
   */
  get metadataSource(): { path: string; from: string } | undefined {
    if (this.opts.metadata) return { path: resolve(this.opts.metadata), from: '--metadata' };
    if (this.file.metadata && this.profileChoice.ownDevice) {
      return { path: resolve(this.file.dir, this.file.metadata), from: `${this.file.path}: metadata` };
    }
    return undefined;
  }

  /**
   * The device's metadata statement or verified MDS3 BLOB, read on first use. A BLOB whose
   * chain, signature or nextUpdate fails is a ConfigError naming the field.
   */
  metadata(): Promise<Metadata | undefined> {
    const source = this.metadataSource;
    this.#metadata ??= source
      ? loadMetadata(
          source.path,
          this.file.trust.metadataRoots.map((p) => resolve(this.file.dir, p)),
        )
      : Promise.resolve(undefined);
    return this.#metadata;
  }

  get canPowerCycle(): boolean {
    return this.emulator !== undefined || this.replay?.header.canPowerCycle === true;
  }

  /** Power off and on (the emulated chip): every link drops and is reopened; keys and counter must survive. */
  async powerCycle(): Promise<void> {
    if (!this.canPowerCycle) {
      throw new ConfigError(`station "${this.name}" has no power switch for ${this.deviceSpec.text}`);
    }
    this.#note('power cycle');
    this.emulator?.powerCycle();
    await this.#powerRestored(false);
  }

  /** Cuts or restores the chip's power through the station's power switch; on power-up the links reopen. */
  async setPower(on: boolean): Promise<void> {
    const power = this.instruments.power;
    if (!power) throw new ConfigError(`station "${this.name}" has no power switch (instruments.power)`);
    this.#note(`power ${on ? 'on' : 'off'} (${power.name})`);
    await power.setPower(on);
    if (on) await this.#powerRestored(true);
  }

  async #powerRestored(reenumerates: boolean): Promise<void> {
    for (const link of this.#links.values()) {
      await link.powerRestored?.(() => this.resetLink(link.kind), reenumerates);
    }
  }

  /** Chamber, power switch and power meter, where the station has them (openInstruments). */
  get instruments(): StationInstruments {
    return this.#instruments.current;
  }
  /** Opens the station's instruments on first use (see InstrumentSet). */
  openInstruments = () => this.#instruments.open();
  closeInstruments = () => this.#instruments.close();

  /**
   * Closes a link (it reopens on next use), and a request still waiting for a press on it:
   * a press for another link cannot release it (the environmental cases start clean).
   */
  async closeLink(kind: TransportKind): Promise<void> {
    const link = this.#links.get(kind);
    if (!link?.current) return;
    this.#note(`${linkKind(kind).name} link closed`);
    await link.close();
  }

  /** After a link fault: close and reopen the device so the next test starts clean. */
  async resetLink(kind: TransportKind = this.transports[0]!): Promise<void> {
    const link = this.#links.get(kind);
    await (link?.drop ? link.drop() : link?.close());
    await this.#use(kind);
  }

  /**
   * Which device this is (rig/station/identity.ts): read when the station opened, the same
   * on a replay (its exchanges replayed, the rest from the recording's header).
   */
  get identity(): DeviceIdentity {
    return this.#identity;
  }

  /**
   * Reads the identity through the open links: the USB descriptors, the BLE Device
   * Information strings, the attestation certificate (the emulated chip's own; a real
   * device's from one registration, when the rig can give the press itself), and the
   * station file's `identity:`. Nothing here fails the run: a field that cannot be read
   * says why or is left out.
   */
  async #readIdentity(): Promise<DeviceIdentity> {
    const usable = (kind: TransportKind) =>
      this.transports.includes(kind) && !this.unsupported(kind) && !this.#trouble.has(kind);
    const sources: IdentitySources = {};
    if (usable('hid')) {
      sources.usb = await this.#link<HidLink>('hid', false)
        .then((l) => l.raw())
        .then((c) => c.info)
        .catch(() => undefined);
    }
    if (usable('ble')) sources.dis = await this.#readDeviceInformation().catch(() => undefined);
    const recorded = this.replay?.header.identity;
    if (this.emulator) sources.attestation = this.emulator.attestationCertificate;
    else if (!this.replay?.header.emulated) sources.attestation = await this.#readAttestation();
    if (!this.replay) sources.declared = this.#declaredIdentity();
    const read = describeIdentity(sources);
    if (!recorded) return read;
    // A replay: what it read again through the recording, the rest as recorded.
    const merged: DeviceIdentity = {};
    for (const field of IDENTITY_FIELDS) {
      const value = read[field] ?? recorded[field];
      if (value !== undefined) merged[field] = value;
    }
    return merged;
  }

  /** The station file's `identity:` for this device: a DUT's own, or the file's for its `device`. */
  #declaredIdentity(): DeclaredIdentity | undefined {
    const dut = process.env.CHIPRIG_DUT;
    if (dut) return this.file.duts?.find((d) => d.id === dut)?.identity;
    return this.profileChoice.ownDevice ? this.file.identity : undefined;
  }

  async #readDeviceInformation(): Promise<IdentitySources['dis']> {
    const link = await this.bleLink();
    const services = await link.services();
    const dis = services.find((s) => s.uuid === UUID.DEVICE_INFORMATION);
    if (!dis) return undefined;
    const read = async (uuid: string) => {
      if (!dis.characteristics.some((c) => c.uuid === uuid)) return undefined;
      const bytes = await link.read(UUID.DEVICE_INFORMATION, uuid);
      return new TextDecoder('utf-8', { fatal: false }).decode(bytes).replace(/\0+$/, '');
    };
    return {
      manufacturer: await read(UUID.MANUFACTURER_NAME),
      model: await read(UUID.MODEL_NUMBER),
      serial: await read(UUID.SERIAL_NUMBER),
      firmware: await read(UUID.FIRMWARE_REVISION),
      hardware: await read(UUID.HARDWARE_REVISION),
    };
  }

  /**
   * A real device's attestation certificate, from one registration over the first
   * transport under a throwaway application parameter. Only where the rig gives the press
   * itself (an actuator, or a device that approves by itself): an operator is not asked.
   */
  async #readAttestation(): Promise<IdentitySources['attestation']> {
    const kind = this.transports[0]!;
    if (this.presence.mode === 'prompt' && !linkKind(kind).presenceIsTap) {
      return { notRead: 'presence is by an operator; the U2F suite shows the certificate' };
    }
    if (this.unsupported(kind) || this.#trouble.has(kind))
      return { notRead: `the ${kind} link is not usable` };
    try {
      const u2f = await this.u2fOver(kind);
      const registration = await u2f.register(hostRandomBytes(32), hostRandomBytes(32));
      return registration.certificate;
    } catch (error) {
      return { notRead: `a registration over ${kind} failed: ${(error as Error).message}` };
    }
  }

  /** What the report's environment shows about the device. */
  async deviceFacts(): Promise<Record<string, string>> {
    const facts = Object.assign({}, ...[...this.#links.values()].map((l) => l.facts()), this.facts);
    // Every value may hold text the device chose: shown escaped (rig/untrusted.ts).
    return Object.fromEntries(Object.entries(facts).map(([k, v]) => [k, deviceText(String(v))]));
  }

  async close(): Promise<void> {
    await this.closeInstruments();
    for (const link of this.#links.values()) await link.close();
    this.#u2f.clear();
  }
}
