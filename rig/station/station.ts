import { resolve } from 'node:path';
import { EmulatedChip } from '../emulator/emulated-chip.ts';
import type { FaultName } from '../emulator/faults.ts';
import { ConfigError } from '../errors.ts';
import { EmulatorButton, type TouchActuator } from '../instruments/touch-actuator.ts';
import { TrafficLog } from '../traffic.ts';
import type { HidConnection } from '../transport/hid/connection.ts';
import { HidTransport } from '../transport/hid/hid-transport.ts';
import type { TransportKind } from '../transport/transport.ts';
import { U2fClient } from '../u2f/u2f-client.ts';
import { type DeviceProfile, loadDeviceProfile } from './device-profile.ts';
import { type DeviceSpec, parseDeviceSpec } from './device-spec.ts';
import { PresenceController } from './presence.ts';
import { loadStationFile, type PresenceMode, type StationFile } from './station-file.ts';

export interface StationOptions {
  /** Station file path; the built-in emulated station when absent. */
  stationFile?: string;
  /** Device spec overriding the station file's. */
  device?: string;
  presence?: PresenceMode;
  /** Operator prompt sink (stderr by default). */
  prompt?: (text: string) => void;
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
  readonly transports: readonly TransportKind[] = ['hid'];
  /** Facts learnt during the run for the report's environment (e.g. the attestation subject). */
  readonly facts: Record<string, string> = {};
  #hid: HidTransport | undefined;
  #u2f: U2fClient | undefined;

  private constructor(init: {
    file: StationFile;
    profile: DeviceProfile;
    deviceSpec: DeviceSpec;
    presence: PresenceController;
    emulator: EmulatedChip | undefined;
    traffic: TrafficLog;
  }) {
    this.file = init.file;
    this.profile = init.profile;
    this.deviceSpec = init.deviceSpec;
    this.presence = init.presence;
    this.emulator = init.emulator;
    this.traffic = init.traffic;
  }

  /** Loads and checks the configuration (ConfigError), then opens the device (TransportError). */
  static async open(opts: StationOptions = {}): Promise<Station> {
    const file = loadStationFile(opts.stationFile);
    const profile = loadDeviceProfile(resolve(file.dir, file.profile));
    const deviceSpec = parseDeviceSpec(
      opts.device ?? file.device,
      opts.device ? '--device' : `${file.path}: field "device"`,
    );
    const emulator = deviceSpec.kind === 'emulator' ? makeEmulator(file, deviceSpec.fault) : undefined;
    let actuator: TouchActuator | undefined;
    if (emulator && file.instruments.touch?.kind !== 'none') {
      actuator = new EmulatorButton((holdMs) => emulator.pressButton(holdMs));
    }
    // A real key with no actuator on the station: ask the operator unless told otherwise.
    const mode: PresenceMode = opts.presence ?? file.presence ?? (actuator ? 'actuator' : 'prompt');
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
    const station = new Station({ file, profile, deviceSpec, presence, emulator, traffic });
    await station.hid();
    return station;
  }

  get name(): string {
    return this.file.name;
  }

  /** The device's HID transport, opened (and INIT done) on first use. */
  async hid(): Promise<HidTransport> {
    if (!this.#hid) {
      const connection = await this.#openHidConnection();
      this.#hid = await HidTransport.open(connection, {
        log: this.traffic,
        timeoutMs: this.file.timeouts.exchangeMs,
      });
    }
    return this.#hid;
  }

  /**
   * The U2F client over HID. It stays valid across link resets and power cycles: its
   * transport delegates to whatever HID transport is open at the time of each exchange.
   */
  async u2f(): Promise<U2fClient> {
    await this.hid();
    this.#u2f ??= new U2fClient(
      {
        kind: 'hid',
        exchange: (apdu, opts) =>
          this.#hid ? this.#hid.exchange(apdu, opts) : this.hid().then((hid) => hid.exchange(apdu, opts)),
        close: async () => undefined,
      },
      this.presence,
    );
    return this.#u2f;
  }

  /** The U2F client over one of the station's transports. */
  async u2fOver(kind: TransportKind): Promise<U2fClient> {
    if (kind === 'hid') return this.u2f();
    throw new ConfigError(`station "${this.name}" has no ${kind} transport`);
  }

  /** Whether the station can cut and restore the device's power. */
  get canPowerCycle(): boolean {
    return this.emulator !== undefined;
  }

  /** Power off and on (the emulated chip; a power instrument in a lab), then reopen the link. */
  async powerCycle(): Promise<void> {
    if (!this.emulator)
      throw new ConfigError(`station "${this.name}" has no power switch for ${this.deviceSpec.text}`);
    this.traffic.note('rig', 'power cycle');
    this.emulator.powerCycle();
    await this.resetLink();
  }

  /** After a link fault: close and reopen the device so the next test starts clean. */
  async resetLink(): Promise<void> {
    const old = this.#hid;
    this.#hid = undefined;
    await old?.close().catch(() => undefined);
    await this.hid();
  }

  async close(): Promise<void> {
    await this.#hid?.close().catch(() => undefined);
    this.#hid = undefined;
    this.#u2f = undefined;
  }

  async #openHidConnection(): Promise<HidConnection> {
    const spec = this.deviceSpec;
    if (spec.kind === 'emulator') return this.emulator!.hid();
    const { openNodeHid } = await import('../transport/hid/node-hid.ts');
    if (spec.kind === 'hid-path') return openNodeHid({ path: spec.path }, spec.text);
    return openNodeHid(
      {
        vendorId: spec.vendorId,
        productId: spec.productId,
        ...(spec.serialNumber ? { serialNumber: spec.serialNumber } : {}),
      },
      spec.text,
    );
  }
}

function makeEmulator(file: StationFile, fault: FaultName | undefined): EmulatedChip {
  const e = file.emulator;
  if (!e) {
    throw new ConfigError(`station file ${file.path}: device "emulator" needs an "emulator" section`);
  }
  return new EmulatedChip({
    vendorId: e.usb.vendorId,
    productId: e.usb.productId,
    manufacturer: e.manufacturer,
    product: e.product,
    serialNumber: e.serialNumber,
    counter: e.counter,
    channelRules: e.channelRules,
    presenceWindowMs: e.presenceWindowMs,
    attestationCertificatePath: resolve(file.dir, e.attestation.certificate),
    attestationKeyPath: resolve(file.dir, e.attestation.key),
    ...(fault ? { faults: [fault] } : {}),
  });
}
