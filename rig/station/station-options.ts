import type { Recorder } from '../tape/recorder.ts';
import type { TransportKind } from '../transport/transport.ts';
import type { PresenceMode } from './station-file.ts';

/** How `Station.open` is asked to open a station: the CLI's flags, or a program's choice. */
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
  /** The device's metadata statement or MDS3 BLOB (chiprig run --metadata FILE). */
  metadata?: string;
  /**
   * The emulated chip's key-wrapping key (32 bytes); default random. chiprig fuzz gives every
   * chip of a campaign the same one, so a fresh chip for a clean start is the same device:
   * key handles the campaign's chip issued open on it too.
   */
  emulatorMasterKey?: Uint8Array;
  /** Overrides the station file's timeouts.exchangeMs (chiprig fuzz --timeout). */
  exchangeTimeoutMs?: number;
}
