import type { SettleOptions } from '../instruments/chamber.ts';
import type { ClimateChamber, PowerMeter, PowerSwitch } from '../instruments/roles.ts';

/**
 * The station's lab instruments beyond the touch actuator (which presence uses): the
 * climate chamber, the power switch and the power meter, each optional. The environmental
 * suites skip, with the reason, what a station has no instrument for.
 */
export interface StationInstruments {
  chamber?: ClimateChamber;
  /** How a temperature step settles on this station's chamber (tolerance, soak, timeout). */
  chamberSettle?: Omit<SettleOptions, 'target'>;
  power?: PowerSwitch;
  meter?: PowerMeter;
  /** Closes every instrument (and any simulator behind it). */
  close?: () => Promise<void>;
}
