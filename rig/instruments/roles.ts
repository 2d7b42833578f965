/**
 * Instrument roles: what the suites ask of a lab's instruments, whatever drives them.
 * Real drivers speak each instrument's own bytes over serialport (Firmata, Modbus RTU, the
 * PPK2's protocol); simulators speak the same bytes and are wired to the emulated chip.
 *
 * Contract for every role: a method rejects with an InstrumentError (never a device error)
 * when the instrument fails or does not answer in time, naming the instrument and its port;
 * every wait has a timeout; `close` is idempotent.
 */
export type { TouchActuator } from './touch-actuator.ts';

/** Cuts and restores the chip's power (a relay in its USB power line). */
export interface PowerSwitch {
  readonly name: string;
  setPower(on: boolean): Promise<void>;
  close(): Promise<void>;
}

/** A climate chamber controller: temperatures in degrees Celsius. */
export interface ClimateChamber {
  readonly name: string;
  /** The chamber's measured temperature (process value). */
  readTemperature(): Promise<number>;
  readSetPoint(): Promise<number>;
  setSetPoint(celsius: number): Promise<void>;
  close(): Promise<void>;
}

/** What a power meter saw over one measurement window. */
export interface CurrentMeasurement {
  /** Window length, milliseconds. */
  durationMs: number;
  samples: number;
  meanUa: number;
  maxUa: number;
  /** Charge drawn over the window, microampere-hours. */
  chargeUah: number;
}

/** A power meter in series with (or sourcing) the chip's supply. */
export interface PowerMeter {
  readonly name: string;
  /**
   * Samples the current for `durationMs` and summarises it. `onStart` is called when the
   * window has opened (the first sample is in), so what is to be measured can start then
   * and none of it fall before the window.
   */
  measure(durationMs: number, opts?: { onStart?: () => void }): Promise<CurrentMeasurement>;
  close(): Promise<void>;
}
