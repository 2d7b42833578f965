import type { EmulatedChip } from '../emulator/emulated-chip.ts';
import { openInstruments, type StationInstruments } from './instruments.ts';
import type { StationFile } from './station-file.ts';

/**
 * The station's instruments, opened on first use (the suites that need them ask), so a run
 * without them never starts a simulator or opens a port; closed by the suites that used
 * them when they end, so a plain mocha run leaves nothing open, and opened again on demand.
 */
export class InstrumentSet {
  /** Chamber, power switch and power meter, where the station has them, once open. */
  current: StationInstruments = {};
  #opening: Promise<StationInstruments> | undefined;

  constructor(
    private readonly config: StationFile['instruments'],
    private readonly emulator: EmulatedChip | undefined,
  ) {}

  open(): Promise<StationInstruments> {
    this.#opening ??= openInstruments(this.config, this.emulator).then((i) => {
      this.current = i;
      return i;
    });
    return this.#opening;
  }

  /** Closes them and the simulators and ptys behind them. Never throws. */
  async close(): Promise<void> {
    const instruments = await this.#opening?.catch(() => undefined);
    this.#opening = undefined;
    this.current = {};
    await instruments?.close?.().catch(() => undefined);
  }
}
