import { dirname, resolve } from 'node:path';
import { hex } from '../bytes.ts';
import type { EmulatedChip } from '../emulator/emulated-chip.ts';
import { ConfigError, isDeviceFailure, isTransportError, TransportError } from '../errors.ts';
import { EmulatorButton, type TouchActuator } from '../instruments/touch-actuator.ts';
import type { Recorder, Tape } from '../tape/recorder.ts';
import { Replayer } from '../tape/replayer.ts';
import { TrafficLog } from '../traffic.ts';
import { BleTransport } from '../transport/ble/ble-transport.ts';
import type { Advertisement, GattLink } from '../transport/ble/connection.ts';
import type { HidConnection } from '../transport/hid/connection.ts';
import { FifoHidConnection } from '../transport/hid/fifo-hid.ts';
import { HidTransport } from '../transport/hid/hid-transport.ts';
import { type CardConnection, isMovableCard } from '../transport/nfc/connection.ts';
import { NfcTransport } from '../transport/nfc/nfc-transport.ts';
import type { Transport, TransportKind } from '../transport/transport.ts';
import { type AttestationRoot, loadAttestationRoots } from '../u2f/attestation-chain.ts';
import { U2fClient } from '../u2f/u2f-client.ts';
import { deviceText } from '../untrusted.ts';
import { type DeviceProfile, GENERIC_PROFILE, loadDeviceProfile, profilePath } from './device-profile.ts';
import { type DeviceSpec, parseDeviceSpec } from './device-spec.ts';
import { makeEmulator } from './emulated.ts';
import { openInstruments, type StationInstruments } from './instruments.ts';
import {
  type BleLink,
  type CardLink,
  nobleSource,
  openBleLink,
  openCardConnection,
  openHidConnection,
  scanBle,
  transportsOf,
} from './links.ts';
import { type HostPlatform, hostPlatform, unsupportedReason } from './platform.ts';
import { PresenceController } from './presence.ts';
import { loadStationFile, type PresenceMode, type StationFile } from './station-file.ts';

/** How long a device may take to come back after its power is restored (USB re-enumeration). */
const POWER_UP_MS = 5000;

export interface StationOptions {
  /** Station file path; the built-in emulated station when absent. */
  stationFile?: string;
  /** Device spec overriding the station file's. */
  device?: string;
  presence?: PresenceMode;
  /** Operator prompt sink (stderr by default). */
  prompt?: (text: string) => void;
  /** Bluetooth controller for ble: devices, "uart:PATH[@BAUD]" (overrides the station file). */
  hci?: string;
  /** Soak duration of the perf suite (chiprig run --duration), all transports together. */
  soakMs?: number;
  /** Only these of the device's transports (chiprig run --transport). */
  transports?: readonly TransportKind[];
  /** Records every exchange (chiprig run --record). */
  record?: Recorder;
  /** The host platform to judge the transports by (chiprig run --platform); default detected. */
  platform?: string;
  /** The device profile (chiprig run --profile NAME|FILE); default: see `chooseProfile`. */
  profile?: string;
}

/**
 * The one place that chooses real or emulated (architecture.md). Suites get transports,
 * the U2F client, presence and the profile from here, never from an adapter.
 */
export class Station {
  readonly file: StationFile;
  readonly profile: DeviceProfile;
  readonly deviceSpec: DeviceSpec;
  readonly presence: PresenceController;
  readonly traffic: TrafficLog;
  readonly emulator: EmulatedChip | undefined;
  readonly transports: readonly TransportKind[];
  /** The host platform the run is judged by (the device profile's platforms). */
  readonly platform: HostPlatform;
  /** Facts learnt during the run for the report's environment (e.g. the attestation subject). */
  readonly facts: Record<string, string> = {};
  /** How long the perf suite's soak runs (--duration); absent: no soak. */
  soakMs: number | undefined;
  /** Chamber, power switch and power meter, where the station has them (openInstruments). */
  instruments: StationInstruments = {};
  #instruments: Promise<StationInstruments> | undefined;
  #hid: HidTransport | undefined;
  #nfc: NfcTransport | undefined;
  #card: CardLink | undefined;
  #chipOn: TransportKind | undefined;
  #ble: BleTransport | undefined;
  #hci: string | undefined;
  #bleLink: BleLink | undefined;
  readonly #u2f = new Map<TransportKind, U2fClient>();
  #roots: AttestationRoot[] | undefined;
  readonly #record: Recorder | undefined;
  readonly #replay: Replayer | undefined;
  /** The FIFO device's own connection (its touch command), under any recording wrapper. */
  #fifo: FifoHidConnection | undefined;
  /** A HID connection open without a working HidTransport on it (its INIT failed, or a probe's). */
  #hidRaw: HidConnection | undefined;
  /** Why the device cannot be tested over a transport any more, and since when. */
  readonly #trouble = new Map<TransportKind, DeviceTrouble>();
  /** The catalogue ID of the case running now (set by the case wrapper), for `since`. */
  currentCase: string | undefined;

  private constructor(init: {
    file: StationFile;
    profile: DeviceProfile;
    deviceSpec: DeviceSpec;
    presence: PresenceController;
    emulator: EmulatedChip | undefined;
    traffic: TrafficLog;
    only?: readonly TransportKind[] | undefined;
    record?: Recorder | undefined;
    replay?: Replayer | undefined;
    platform: HostPlatform;
  }) {
    this.file = init.file;
    this.profile = init.profile;
    this.deviceSpec = init.deviceSpec;
    this.presence = init.presence;
    this.emulator = init.emulator;
    this.traffic = init.traffic;
    this.#record = init.record;
    this.#replay = init.replay;
    this.platform = init.platform;
    const all = transportsOf(init.deviceSpec, init.file, init.replay?.header.transports);
    const only = init.only;
    const missing = only?.filter((t) => !all.includes(t)) ?? [];
    if (missing.length > 0) {
      throw new ConfigError(
        `--transport: ${init.deviceSpec.text} on station "${init.file.name}" has no ${missing.join(', ')} (it has ${all.join(', ')})`,
      );
    }
    this.transports = only ? all.filter((t) => only.includes(t)) : all;
  }

  /** Loads and checks the configuration (ConfigError), then opens the device (TransportError). */
  static async open(opts: StationOptions = {}): Promise<Station> {
    const file = loadStationFile(opts.stationFile);
    const deviceSpec = parseDeviceSpec(
      opts.device ?? file.device,
      opts.device ? '--device' : `${file.path}: field "device"`,
    );
    const emulator = deviceSpec.kind === 'emulator' ? makeEmulator(file, deviceSpec.fault) : undefined;
    const replay = deviceSpec.kind === 'replay' ? Replayer.load(deviceSpec.path) : undefined;
    const chosen = chooseProfile(file, deviceSpec, opts.profile, replay?.header.profile);
    const profile = loadDeviceProfile(chosen.path);
    if (replay && opts.record) {
      throw new ConfigError('--record: a replay is already a recording; record the original device instead');
    }
    let actuator: TouchActuator | undefined;
    let opened: Station | undefined;
    const touch = file.instruments.touch?.kind ?? 'emulator-button';
    if (emulator && touch === 'emulator-button') {
      actuator = new EmulatorButton((holdMs) => emulator.pressButton(holdMs));
    }
    if (deviceSpec.kind === 'fifo' && touch === 'emulator-button') {
      // The FIFO protocol has the button: INTERRUPT 199 toggles touch (dev.cc's DEV_touch).
      actuator = {
        name: 'fifo touch (cmd 6)',
        press: async () => {
          await opened!.hid();
          await opened!.#fifo!.touch();
        },
      };
    }
    if (touch === 'firmata') {
      // The Firmata board under instruments.power presses too; it is opened on first press.
      actuator = {
        name: 'firmata presser',
        press: async (holdMs?: number) => {
          const presser = (await opened!.openInstruments()).presser;
          if (!presser) {
            throw new ConfigError(
              `station "${file.name}": instruments.touch is firmata but instruments.power is not`,
            );
          }
          await presser.press(holdMs);
        },
      };
    }
    if (replay) {
      // Whatever pressed the recorded device's button (an emulator, a robot, a person),
      // its answers already hold what the presses did.
      actuator = { name: 'replayed button', press: async () => undefined };
    }
    // No actuator: ask the operator, unless the device is only reached over NFC, where the
    // tap is the presence and nothing needs pressing.
    const buttonNeeded = transportsOf(deviceSpec, file, replay?.header.transports).some((t) => t !== 'nfc');
    const mode: PresenceMode =
      opts.presence ??
      replay?.header.presence ??
      file.presence ??
      (actuator ? 'actuator' : buttonNeeded ? 'prompt' : 'auto');
    if (mode === 'actuator' && !actuator) {
      throw new ConfigError(
        `--presence actuator: the station "${file.name}" has no touch actuator that can press ${deviceSpec.text}; use --presence prompt or auto`,
      );
    }
    const traffic = new TrafficLog();
    const presence = new PresenceController({
      mode,
      log: traffic,
      ...(mode === 'actuator' && actuator ? { actuator } : {}),
      timeoutMs: file.timeouts.presenceMs ?? profile.presence.timeoutMs,
      pollMs: profile.presence.pollMs,
      ...(opts.prompt ? { prompt: opts.prompt } : {}),
    });
    const station = new Station({
      file,
      profile,
      deviceSpec,
      presence,
      emulator,
      traffic,
      only: opts.transports,
      record: opts.record,
      replay,
      platform: hostPlatform(
        profile,
        opts.platform
          ? { name: opts.platform, source: '--platform' }
          : replay?.header.platform
            ? { name: replay.header.platform, source: 'the recording' }
            : file.platform
              ? { name: file.platform, source: `station ${file.name}` }
              : undefined,
      ),
    });
    opened = station;
    station.profileChoice = chosen;
    if (opts.hci) nobleSource(opts.hci); // check the flag before opening anything
    station.#hci = opts.hci;
    station.soakMs = opts.soakMs;
    try {
      // Open every link now, so an absent device is reported before any test runs; not the
      // links the host platform cannot use (their tests are skipped).
      // A device that answers, wrongly, is not an absent one: the tests judge it (see trouble).
      for (const kind of station.transports) {
        if (station.unsupported(kind)) continue;
        try {
          await station.#open(kind);
        } catch (error) {
          if (!station.#trouble.has(kind)) throw error;
        }
      }
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

  /** The device's HID transport, opened (and INIT done) on first use. */
  async hid(): Promise<HidTransport> {
    await this.#moveEmulatedChip('hid');
    if (!this.#hid) {
      this.#require('hid');
      const trouble = this.#trouble.get('hid');
      if (trouble) throw troubleError(trouble);
      // A connection whose INIT is answered wrongly stays open for the raw cases (station.close
      // closes it); one whose INIT goes unanswered is closed, so nothing is left open behind.
      const connection = await this.rawHidConnection();
      try {
        this.#hid = await HidTransport.open(connection, {
          log: this.traffic,
          timeoutMs: this.file.timeouts.exchangeMs,
        });
      } catch (error) {
        // The device answered INIT, wrongly: no channel for the rig's own exchanges. The case
        // on that requirement judges it; the others cannot run over this link.
        if (isDeviceFailure(error)) {
          this.markTrouble('hid', {
            state: 'unusable',
            since: this.currentCase,
            why: (error as Error).message,
            judgedBy: ['HID-INIT-01'],
          });
        } else {
          // Silent or gone: nothing stays open, and the next use opens afresh.
          this.#hidRaw = undefined;
          await connection.close().catch(() => undefined);
        }
        throw error;
      }
      this.#hidRaw = undefined;
    }
    return this.#hid;
  }

  /**
   * The device's HID connection without the rig's INIT: the open transport's, or one opened
   * for raw access where no transport could be (a device whose INIT answer is wrong).
   */
  async rawHidConnection(): Promise<HidConnection> {
    await this.#moveEmulatedChip('hid');
    if (this.#hid) return this.#hid.connection;
    if (!this.#hidRaw) {
      this.#require('hid');
      const open = async () => {
        if (this.#replay) return this.#replay.openHid();
        const raw = await openHidConnection(this.deviceSpec, this.emulator);
        if (raw instanceof FifoHidConnection) this.#fifo = raw;
        return raw;
      };
      this.#hidRaw = this.#record ? await this.#record.openHid(open) : await open();
    }
    return this.#hidRaw;
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

  /** Closes the HID transport and any raw HID connection; the next use opens afresh. */
  async #closeHid(): Promise<void> {
    const old = this.#hid;
    const raw = this.#hidRaw;
    this.#hid = undefined;
    this.#hidRaw = undefined;
    await old?.close().catch(() => undefined);
    if (raw && raw !== old?.connection) await raw.close().catch(() => undefined);
  }

  /** The device's NFC transport (ISO 7816-4 over a card connection), opened on first use. */
  async nfc(): Promise<NfcTransport> {
    if (!this.#nfc) {
      this.#require('nfc');
      if (this.#card) this.#card.connection = await this.#card.reopen();
      else this.#card = await this.#openCard();
      const nfc = this.file.nfc;
      this.#nfc = new NfcTransport(this.#card.connection, {
        apdu: nfc.apdu,
        chunkSize: nfc.chunkSize,
        getResponseLe: nfc.getResponseLe,
        timeoutMs: this.file.timeouts.exchangeMs,
        log: this.traffic,
      });
      this.#chipOn = 'nfc';
    }
    await this.#moveEmulatedChip('nfc');
    return this.#nfc;
  }

  /** The card link, as recorded or replayed where the run is. */
  async #openCard(): Promise<CardLink> {
    const replay = this.#replay;
    if (replay) return { connection: await replay.openCard(), reopen: () => replay.openCard() };
    const open = () => openCardConnection(this.deviceSpec, this.file, this.emulator, this.traffic);
    const record = this.#record;
    if (!record) return open();
    let link: CardLink | undefined;
    const connection = await record.openCard(() =>
      open().then((l) => {
        link = l;
        return l.connection;
      }),
    );
    return { ...link!, connection, reopen: () => record.openCard(link!.reopen) };
  }

  /** What tells the suites and the rig what kind of device this is: a recording, the emulator's. */
  get tape(): Tape | undefined {
    return this.#record ?? this.#replay;
  }

  get replay(): Replayer | undefined {
    return this.#replay;
  }

  /** The device is the emulated chip, or a replay of a run against it (the suites take its branches). */
  get emulated(): boolean {
    return this.emulator !== undefined || this.#replay?.header.emulated === true;
  }

  #note(text: string): void {
    this.traffic.note('rig', text);
    this.#record?.note(text);
  }

  /**
   * The emulated chip is on one link at a time, as a person holds it: on the USB cable or
   * on the reader. Moving it to USB takes the in-process card out of the field (so HID
   * presses do not block NFC, the MitID rule); moving it back taps it, and the transport
   * SELECTs again. Real devices and the vpcd path are left alone.
   */
  async #moveEmulatedChip(kind: TransportKind): Promise<void> {
    if (this.#chipOn === kind || !this.emulated) return;
    const card = this.#card?.connection;
    if (!isMovableCard(card)) return;
    this.#chipOn = kind;
    if (kind !== 'nfc') {
      // On the cable, or held away from the reader for Bluetooth.
      card.remove();
    } else {
      this.#note('emulated chip moved from the USB cable to the reader');
      card.tap();
      await this.#nfc?.powerCycle();
    }
  }

  /** The device's FIDO BLE transport (GATT through noble), opened on first use. */
  async ble(): Promise<BleTransport> {
    await this.#moveEmulatedChip('ble');
    if (!this.#ble) {
      this.#require('ble');
      const open = () => openBleLink(this.deviceSpec, this.file, this.emulator, this.traffic, this.#hci);
      this.#bleLink = this.#replay
        ? await this.#replay.openBle()
        : this.#record
          ? await this.#record.openBle(open)
          : await open();
      try {
        this.#ble = await BleTransport.open(this.#bleLink.link, { log: this.traffic });
      } catch (error) {
        await this.#closeBle();
        throw error;
      }
    }
    return this.#ble;
  }

  /** The GATT link under the BLE transport (GATT-level cases: BLE-GATT-*, BLE-VER-*). */
  async bleLink(): Promise<GattLink> {
    await this.ble();
    return this.#bleLink!.link;
  }

  /**
   * What a scanning central sees of the device (BLE-ADV-*). The chip advertises only while
   * no central holds it, so the BLE link is dropped first; the next use reconnects.
   */
  async bleScan(timeoutMs = 3000): Promise<Advertisement[]> {
    this.#require('ble');
    await this.#closeBle();
    this.#note('BLE link dropped to scan for advertisements');
    const scan = () => scanBle(this.deviceSpec, this.file, this.emulator, timeoutMs, this.#hci);
    if (this.#replay) return this.#replay.scan(timeoutMs);
    return this.#record ? this.#record.scan(timeoutMs, scan) : scan();
  }

  /** Whether the rig can put the device in and out of pairing mode itself (the emulated chip). */
  get canSetPairingMode(): boolean {
    if (this.#replay) return this.#replay.header.canSetPairingMode;
    return this.emulator !== undefined && this.transports.includes('ble');
  }

  setPairingMode(on: boolean): void {
    if (!this.canSetPairingMode) throw new ConfigError(`station "${this.name}" cannot switch pairing mode`);
    this.#note(`pairing mode ${on ? 'on' : 'off'}`);
    if (this.emulator) this.emulator.blePeripheral().pairingMode = on;
  }

  /** The card connection behind the NFC transport (the emulated one can leave the field). */
  async cardConnection(): Promise<CardConnection> {
    await this.nfc();
    return this.#card!.connection;
  }

  /** The default U2F client: over the station's first transport. */
  async u2f(): Promise<U2fClient> {
    return this.u2fOver(this.transports[0]!);
  }

  /**
   * The U2F client over one transport. It stays valid across link resets and power
   * cycles: its transport delegates to whatever link is open at each exchange.
   */
  async u2fOver(kind: TransportKind): Promise<U2fClient> {
    this.#require(kind);
    let client = this.#u2f.get(kind);
    if (!client) {
      const open = (): Promise<Transport> => this.#open(kind);
      const current = (): Transport | undefined =>
        kind === 'hid' ? this.#hid : kind === 'nfc' ? this.#nfc : this.#ble;
      client = new U2fClient(
        {
          kind,
          exchange: (apdu, opts) => {
            if (this.#chipOn !== kind && this.emulated) {
              return this.#moveEmulatedChip(kind).then(() => open().then((t) => t.exchange(apdu, opts)));
            }
            const link = current();
            return link ? link.exchange(apdu, opts) : open().then((t) => t.exchange(apdu, opts));
          },
          close: async () => undefined,
          get wire() {
            return current()?.wire;
          },
        },
        // On NFC the tap is the presence: pressing the button there would block NFC.
        kind === 'nfc' ? undefined : this.presence,
      );
      this.#u2f.set(kind, client);
    }
    // A device found unusable over this link is judged by its cases; the client stays.
    if (!this.unsupported(kind) && !this.#trouble.has(kind)) await this.#open(kind);
    return client;
  }

  #open(kind: TransportKind): Promise<Transport> {
    return kind === 'hid' ? this.hid() : kind === 'nfc' ? this.nfc() : this.ble();
  }

  /** Whether the station can cut and restore the device's power. */
  /**
   * The attestation roots named for this device, read on first use: the station's
   * (trust.attestationRoots) for its own device, else the profile's (attestationRoots).
   */
  attestationRoots(): AttestationRoot[] {
    const choice = this.profileChoice;
    const own = choice?.ownDevice !== false;
    this.#roots ??= own
      ? loadAttestationRoots(
          this.file.trust.attestationRoots.map((p) => resolve(this.file.dir, p)),
          `${this.file.path}: trust.attestationRoots`,
        )
      : loadAttestationRoots(
          (this.profile.attestationRoots ?? []).map((p) => resolve(dirname(choice!.path), p)),
          `${choice!.path}: attestationRoots`,
        );
    return this.#roots;
  }

  /** Which device profile is in force, and why (printed at the start and in the report). */
  profileChoice: ProfileChoice | undefined;

  get canPowerCycle(): boolean {
    return this.emulator !== undefined || this.#replay?.header.canPowerCycle === true;
  }

  /**
   * Power off and on (the emulated chip; a power instrument in a lab): every link drops
   * and is reopened. Keys and counter must survive.
   */
  async powerCycle(): Promise<void> {
    if (!this.canPowerCycle) {
      throw new ConfigError(`station "${this.name}" has no power switch for ${this.deviceSpec.text}`);
    }
    this.#note('power cycle');
    this.emulator?.powerCycle();
    if (this.#hid || this.#hidRaw) await this.resetLink('hid');
    // A card out of the field is unpowered anyway; one on the reader loses power now.
    if (this.#nfc && this.#chipOn !== 'hid') await this.#nfc.powerCycle();
  }

  /**
   * Opens the station's instruments on first use (the suites that need them ask), so a run
   * without them never starts a simulator or opens a port.
   */
  openInstruments(): Promise<StationInstruments> {
    this.#instruments ??= openInstruments(this.file.instruments, this.emulator).then((i) => {
      this.instruments = i;
      return i;
    });
    return this.#instruments;
  }

  /**
   * Closes the instruments (and the simulators and ptys behind them); the next
   * openInstruments opens them again. The suites that use them call it when they end, so a
   * plain mocha run leaves nothing open.
   */
  async closeInstruments(): Promise<void> {
    const instruments = await this.#instruments?.catch(() => undefined);
    this.#instruments = undefined;
    this.instruments = {};
    await instruments?.close?.().catch(() => undefined);
  }

  /**
   * Cuts or restores the chip's power through the station's power switch (instrument). On
   * power-up the links are reopened, as after a re-plug.
   */
  async setPower(on: boolean): Promise<void> {
    const power = this.instruments.power;
    if (!power) throw new ConfigError(`station "${this.name}" has no power switch (instruments.power)`);
    this.#note(`power ${on ? 'on' : 'off'} (${power.name})`);
    await power.setPower(on);
    if (!on) return;
    if (this.#hid || this.#hidRaw) await this.#afterPowerUp(() => this.resetLink('hid'));
    if (this.#nfc && this.#chipOn !== 'hid') await this.#nfc.powerCycle();
  }

  /**
   * After power-up a USB device re-enumerates: a relay's contacts settle, the chip boots,
   * the host finds it again. Until then opening it fails; retry for a while before calling
   * the device gone.
   */
  async #afterPowerUp(reopen: () => Promise<void>): Promise<void> {
    const deadline = performance.now() + POWER_UP_MS;
    for (;;) {
      try {
        await reopen();
        return;
      } catch (error) {
        const code = (error as { code?: string }).code;
        const gone = isTransportError(error) && (code === 'DISCONNECTED' || code === 'NOT_FOUND');
        if (!gone || performance.now() >= deadline) {
          if (!gone) throw error;
          throw new TransportError(
            'DISCONNECTED',
            `${this.deviceSpec.text} did not come back within ${POWER_UP_MS} ms of power-up: ${(error as Error).message}`,
            { cause: error },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  /** NFC field off and on (PC/SC: reconnect with unpower; emulated: the card loses power). */
  async fieldCycle(): Promise<void> {
    this.#note('NFC field off and on');
    await (await this.nfc()).powerCycle();
  }

  /**
   * Closes a USB HID or Bluetooth LE link (it reopens on next use). A request still waiting
   * for a press on that link goes with it, so a press for another link cannot release it:
   * the environmental cases start from their own link only.
   */
  async closeLink(kind: 'hid' | 'ble'): Promise<void> {
    if (kind === 'hid' ? !this.#hid : !this.#ble) return;
    this.#note(`${kind === 'hid' ? 'USB HID' : 'Bluetooth LE'} link closed`);
    if (kind === 'hid') await this.#closeHid();
    else await this.#closeBle();
  }

  /** After a link fault: close and reopen the device so the next test starts clean. */
  async resetLink(kind: TransportKind = this.transports[0]!): Promise<void> {
    if (kind === 'hid') {
      await this.#closeHid();
      await this.hid();
    } else if (kind === 'ble') {
      await this.#closeBle();
      await this.ble();
    } else if (kind === 'nfc') {
      // Close the transport and the card connection, keep what serves the card (vpcd).
      const nfc = this.#nfc;
      this.#nfc = undefined;
      this.#chipOn = undefined;
      await nfc?.close().catch(() => undefined);
      await this.#card?.connection.close().catch(() => undefined);
      await this.nfc();
    }
  }

  /** What the report's environment shows about the device. */
  async deviceFacts(): Promise<Record<string, string>> {
    const facts: Record<string, string> = {};
    const h = (n: number) => n.toString(16).padStart(4, '0');
    if (this.#hid) {
      const info = this.#hid.connection.info;
      facts['device vendor'] = `${info.manufacturer ?? '?'} (${h(info.vendorId)})`;
      facts['device product'] = `${info.product ?? '?'} (${h(info.productId)})`;
      facts['device serial'] = info.serialNumber ?? '(none)';
    }
    if (this.#card) {
      facts['NFC reader'] = this.#card.connection.reader;
      facts['card ATR'] = hex(this.#card.connection.atr);
    }
    // Every value may hold text the device chose: shown escaped (report/untrusted.ts).
    return Object.fromEntries(
      Object.entries({ ...facts, ...this.facts }).map(([k, v]) => [k, deviceText(v)]),
    );
  }

  async close(): Promise<void> {
    await this.closeInstruments();
    await this.#closeHid();
    await this.#closeNfc();
    await this.#closeBle();
    this.#u2f.clear();
  }

  async #closeBle(): Promise<void> {
    const ble = this.#ble;
    const link = this.#bleLink;
    this.#ble = undefined;
    this.#bleLink = undefined;
    await ble?.close().catch(() => undefined);
    await link?.close().catch(() => undefined);
  }

  async #closeNfc(): Promise<void> {
    const nfc = this.#nfc;
    const card = this.#card;
    this.#nfc = undefined;
    this.#card = undefined;
    this.#chipOn = undefined;
    await nfc?.close().catch(() => undefined);
    await card?.connection.close().catch(() => undefined);
    await card?.stop?.().catch(() => undefined);
  }

  #require(kind: TransportKind): void {
    if (!this.transports.includes(kind)) {
      throw new ConfigError(`station "${this.name}": ${this.deviceSpec.text} has no ${kind} transport`);
    }
  }
}

/**
 * Why the device cannot be tested over a transport: gone (silent, even after what the
 * station can do to revive it), stuck (busy beyond its timeouts), or unusable (it answers
 * its INIT wrongly). `since` is the case after which it happened (undefined: at the start);
 * the cases in `judgedBy` still run, to judge the requirement it breaks.
 */
export interface DeviceTrouble {
  state: 'gone' | 'stuck' | 'unusable';
  since: string | undefined;
  why: string;
  judgedBy?: readonly string[];
}

/** What a case that cannot run because of `trouble` is broken with. */
export function troubleError(trouble: DeviceTrouble): TransportError {
  const since = trouble.since ? `since ${trouble.since}` : 'since the start of the run';
  const what =
    trouble.state === 'unusable'
      ? `device unusable ${since}: no CTAPHID channel`
      : `device ${trouble.state} ${since}`;
  const judged = trouble.judgedBy?.length ? ` (${trouble.judgedBy.join(', ')} judges it)` : '';
  return new TransportError('UNAVAILABLE', `${what}: ${trouble.why}${judged}`);
}

/** The device profile a run uses, and why. */
export interface ProfileChoice {
  path: string;
  /** Shipped profile name or file path, as printed and recorded. */
  name: string;
  /** Why this one: --profile, the station's own device, a recording, or generic. */
  source: string;
  /** The device is the station's own (its profile and trust roots apply). */
  ownDevice: boolean;
}

/**
 * --profile wins; a recording is judged by the profile it was recorded with; the station's
 * profile is for the station's own device (its device spec, or the emulated chip with a
 * fault); any other device gets the generic U2F profile, which states no vendor facts and
 * leaves every disputed point open.
 */
export function chooseProfile(
  file: StationFile,
  spec: DeviceSpec,
  flag: string | undefined,
  recorded: string | undefined,
): ProfileChoice {
  const stationPath = resolve(file.dir, file.profile);
  const stationDevices = [file.device, ...(file.duts ?? []).map((d) => d.device)];
  const own = stationDevices.some(
    (device) => spec.text === device || (spec.kind === 'emulator' && /^emulator(:|$)/.test(device)),
  );
  if (flag !== undefined) return { path: profilePath(flag), name: flag, source: '--profile', ownDevice: own };
  if (recorded !== undefined) {
    return { path: profilePath(recorded), name: recorded, source: 'the recording', ownDevice: true };
  }
  if (own) return { path: stationPath, name: file.profile, source: `station ${file.name}`, ownDevice: true };
  return {
    path: profilePath(GENERIC_PROFILE),
    name: GENERIC_PROFILE,
    source: `the station does not identify ${spec.text} as its device; --profile names another`,
    ownDevice: false,
  };
}
