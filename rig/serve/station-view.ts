/**
 * The station as chiprig serve shows it between runs: the device under test (identity), its
 * links, and the instruments, opened by serve and read once a second. Before a run serve lets
 * go of all of it (the run opens the station itself), and takes it again after.
 */
import { readdirSync } from 'node:fs';
import { ChiprigError } from '../errors.ts';
import { SUITES } from '../run/suites.ts';
import { EXAMPLES_DIR } from '../scenario/active.ts';
import { Station } from '../station/station.ts';
import { loadStationFile, type StationFile } from '../station/station-file.ts';
import type { Reading } from './messages.ts';

const READ_EVERY_MS = 1000;

/** The scenario files shipped with chiprig (scenarios/*.yaml), by file name. */
export function shippedScenarios(): string[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
}
/** The meter's window for one idle reading. */
const METER_WINDOW_MS = 100;

export interface StationInfo {
  name: string;
  file: string;
  device: string;
  /** The devices a multi-device station has (each a --device choice). */
  devices: { id: string; device: string }[];
  transports: string[];
  presence: string | undefined;
  identity: Record<string, string>;
  instruments: { role: string; kind: string }[];
  suites: { name: string; what: string }[];
  /** The shipped scenario files a run may take (by file name). */
  scenarios: string[];
  /** Why the station could not be opened now (its device absent, say). */
  problem: string | undefined;
}

export class StationView {
  readonly file: StationFile;
  #station: Station | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reading = false;
  #identity: Record<string, string> = {};
  #transports: string[] = [];
  #presence: string | undefined;
  #problem: string | undefined;
  #opening: Promise<void> | undefined;
  last: Reading | undefined;

  constructor(
    stationFile: string | undefined,
    private readonly onReading: (r: Reading) => void,
  ) {
    this.file = loadStationFile(stationFile);
  }

  info(): StationInfo {
    const f = this.file;
    const inst = f.instruments;
    const instruments = [
      inst.touch ? { role: 'touch', kind: inst.touch.kind } : undefined,
      inst.power ? { role: 'power switch', kind: inst.power.kind } : undefined,
      inst.chamber ? { role: 'chamber', kind: inst.chamber.kind } : undefined,
      inst.meter ? { role: 'power meter', kind: inst.meter.kind } : undefined,
    ].filter((x) => x !== undefined);
    return {
      name: f.name,
      file: f.path,
      device: f.device,
      devices: (f.duts ?? []).map((d) => ({ id: d.id, device: d.device })),
      transports: this.#transports,
      presence: this.#presence,
      identity: this.#identity,
      instruments,
      suites: Object.entries(SUITES).map(([name, s]) => ({ name, what: s.what })),
      scenarios: shippedScenarios(),
      problem: this.#problem,
    };
  }

  /** Opens the station and its instruments, and starts reading them. Never throws. */
  take(): Promise<void> {
    this.#opening ??= this.#take().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #take(): Promise<void> {
    if (this.#station) return;
    try {
      const station = await Station.open({ stationFile: this.file.path });
      this.#station = station;
      this.#identity = station.identity;
      this.#transports = [...station.transports];
      this.#presence = station.presence.mode;
      this.#problem = undefined;
      const i = this.file.instruments;
      if (i.chamber || i.meter || i.power) {
        await station.openInstruments();
        this.#timer = setInterval(() => void this.#read(), READ_EVERY_MS);
      }
    } catch (error) {
      this.#problem = error instanceof ChiprigError || error instanceof Error ? error.message : String(error);
    }
  }

  async #read(): Promise<void> {
    const station = this.#station;
    if (this.#reading || !station) return;
    this.#reading = true;
    const r: Reading = { at: Date.now() };
    try {
      const i = station.instruments;
      if (i.chamber)
        r.chamber = {
          temperature: await i.chamber.readTemperature(),
          setPoint: await i.chamber.readSetPoint(),
        };
      if (i.meter) r.meter = { currentUa: (await i.meter.measure(METER_WINDOW_MS)).meanUa };
      const powered = (i.power as { powered?: boolean | undefined } | undefined)?.powered;
      if (powered !== undefined) r.power = { on: powered };
    } catch (error) {
      r.error = (error as Error).message;
    } finally {
      this.#reading = false;
    }
    if (this.#station !== station) return;
    this.last = r;
    this.onReading(r);
  }

  /** Lets go of the station (a run is about to open it). */
  async release(): Promise<void> {
    await this.#opening;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const station = this.#station;
    this.#station = undefined;
    await station?.close().catch(() => undefined);
  }
}
