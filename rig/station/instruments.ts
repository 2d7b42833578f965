import type { EmulatedChip } from '../emulator/emulated-chip.ts';
import { InstrumentError } from '../errors.ts';
import type { SettleOptions } from '../instruments/chamber.ts';
import { FirmataPresser } from '../instruments/firmata/firmata-presser.ts';
import { FirmataSimulator } from '../instruments/firmata/firmata-simulator.ts';
import { ManualChamber, ManualPowerSwitch, Operator } from '../instruments/operator.ts';
import { Ppk2Meter } from '../instruments/ppk2/ppk2-meter.ts';
import { openPpk2Simulator } from '../instruments/ppk2/ppk2-simulator.ts';
import { openPtyPair } from '../instruments/pty-pair.ts';
import type { ClimateChamber, PowerMeter, PowerSwitch } from '../instruments/roles.ts';
import { openSerialPort } from '../instruments/serial.ts';
import type { TouchActuator } from '../instruments/touch-actuator.ts';
import { WatlowF4 } from '../instruments/watlow/watlow-f4.ts';
import { WatlowF4Simulator } from '../instruments/watlow/watlow-simulator.ts';
import type { InstrumentsConfig } from './station-file.ts';

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
  /** The Firmata board's button presser, for a station whose touch actuator is firmata. */
  presser?: TouchActuator;
  meter?: PowerMeter;
  /** Closes every instrument (and any simulator behind it). */
  close?: () => Promise<void>;
}

/** `port: simulated`: the instrument's simulator on a socat pty, wired to the emulated chip. */
export const SIMULATED = 'simulated';

/**
 * Opens the instruments a station file names. A `simulated` port starts the instrument's
 * simulator on one end of a socat pty pair, wired to the emulated chip (power → its power
 * line, chamber → its thermal model, meter ← its modelled current), and the real driver on
 * the other end: the same bytes as in a lab.
 */
export async function openInstruments(
  config: InstrumentsConfig,
  emulator: EmulatedChip | undefined,
  operator: Operator = new Operator(),
): Promise<StationInstruments> {
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    closers.length = 0;
  };
  const chip = (what: string): EmulatedChip => {
    // Not the station's fault, nor the device's: a simulated instrument drives only the
    // emulated chip, so the cases that need it are skipped for any other device.
    if (!emulator)
      throw new InstrumentError(
        'UNAVAILABLE',
        `instruments.${what}.port is "simulated": the simulator drives only the emulated chip, not this device; name a real instrument's port in a station file for it`,
      );
    return emulator;
  };
  /**
   * The port the real driver of instruments.`what` opens: the station file's, or for
   * `simulated` the driver end of a fresh pty pair (`ptyName`) whose other end `simulate`
   * serves with the instrument's simulator, wired to the emulated chip. `simulate` returns
   * how to stop its simulator.
   */
  const driverPort = async (
    what: string,
    ptyName: string,
    port: string,
    simulate: (simulatorPath: string, chip: EmulatedChip) => Promise<() => Promise<void>>,
  ): Promise<string> => {
    if (port !== SIMULATED) return port;
    const e = chip(what);
    const pair = await openPtyPair({ name: ptyName });
    closers.push(() => pair.close());
    closers.push(await simulate(pair.simulatorPath, e));
    return pair.driverPath;
  };
  const out: StationInstruments = { close };
  try {
    const p = config.power;
    if (p?.kind === 'manual') out.power = new ManualPowerSwitch(operator);
    if (p?.kind === 'firmata') {
      const port = await driverPort('power', 'firmata', p.port, async (path, e) => {
        const sim = await FirmataSimulator.openPort(path, {
          buttonPin: p.buttonPin,
          powerPin: p.powerPin,
          onPower: (on) => e.setPower(on),
        });
        // The solenoid goes down: the chip's button is pressed from that moment.
        sim.on('button', (down: boolean) => {
          if (down) e.pressButton();
        });
        return () => sim.close();
      });
      const presser = await FirmataPresser.open({ port, buttonPin: p.buttonPin, powerPin: p.powerPin });
      closers.push(() => presser.close());
      out.power = presser;
      out.presser = presser;
    }

    const c = config.chamber;
    if (c?.kind === 'manual') out.chamber = new ManualChamber(operator);
    if (c?.kind === 'watlow-f4') {
      const path = await driverPort('chamber', 'watlow', c.port, async (simulatorPath, e) => {
        const sim = new WatlowF4Simulator({
          initialC: e.thermal.ambientC,
          setPointC: e.thermal.ambientC,
          rampCPerMin: c.simulator?.rampCPerMin ?? 2,
          onTemperature: (celsius) => e.thermal.setAmbient(celsius),
        });
        const port = await openSerialPort(simulatorPath, c.baudRate, 'the Watlow F4 simulator');
        sim.attach(port);
        return async () => {
          sim.close();
          await new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve()));
        };
      });
      const chamber = await WatlowF4.open({ path, baudRate: c.baudRate, slaveId: c.address });
      closers.push(() => chamber.close());
      out.chamber = chamber;
      out.chamberSettle = c.settle;
    }

    const m = config.meter;
    if (m?.kind === 'ppk2') {
      const path = await driverPort('meter', 'ppk2', m.port, async (simulatorPath, e) => {
        const sim = await openPpk2Simulator(simulatorPath, {
          current: () => e.power.currentUa(),
          sampleRateHz: m.sampleRateHz,
        });
        return () => sim.close();
      });
      const meter = await Ppk2Meter.open({
        path,
        mode: m.mode,
        voltageMv: m.voltageMv,
        sampleRateHz: m.sampleRateHz,
      });
      closers.push(() => meter.close());
      out.meter = meter;
    }
    return out;
  } catch (error) {
    await close();
    throw error;
  }
}
