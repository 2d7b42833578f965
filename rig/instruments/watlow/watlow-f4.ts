/**
 * ClimateChamber driver for a Watlow Series F4 controller over Modbus RTU (modbus-serial on a
 * serial port). Register facts and their sources: registers.ts.
 */
import ModbusSerial from 'modbus-serial';
import { InstrumentError } from '../../errors.ts';
import type { ClimateChamber } from '../roles.ts';
import { decodeTenths, EXCEPTION_NAMES, encodeTenths, fitsTenths } from './modbus-rtu.ts';
import { WATLOW_F4 } from './registers.ts';

// modbus-serial is CommonJS with `module.exports.default = module.exports`; under NodeNext
// TypeScript types the default import as the whole module, so the class is its `.default`.
const ModbusRTU = ModbusSerial.default;
type ModbusClient = InstanceType<typeof ModbusRTU>;

export interface WatlowF4Options {
  /** Serial port path (what the station file names). */
  path: string;
  baudRate?: number;
  slaveId?: number;
  /** Per-request answer timeout, ms. Default 1000. */
  timeoutMs?: number;
  /** Opening the port, ms. Default 5000. */
  openTimeoutMs?: number;
  /** Instrument name in messages and reports. Default `watlow-f4`. */
  name?: string;
  /**
   * A narrower set point range than the controller's own limits (e.g. what the device under
   * test may see). The effective range is the intersection.
   */
  limits?: { lowC: number; highC: number };
}

/** modbus-serial's errors are plain objects, not Error instances; these are the fields used. */
interface ModbusSerialError {
  message?: string;
  errno?: string;
  modbusCode?: number;
}

export class WatlowF4 implements ClimateChamber {
  readonly name: string;
  readonly path: string;
  readonly #client: ModbusClient;
  readonly #timeoutMs: number;
  #limits: { lowC: number; highC: number } = { lowC: -Infinity, highC: Infinity };
  /** Requests are serialised: modbus-serial tracks one transaction per RTU port. */
  #queue: Promise<unknown> = Promise.resolve();
  #staleBytesPossible = false;
  #closing: Promise<void> | undefined;

  private constructor(client: ModbusClient, opts: WatlowF4Options) {
    this.#client = client;
    this.path = opts.path;
    this.name = opts.name ?? 'watlow-f4';
    this.#timeoutMs = opts.timeoutMs ?? 1000;
  }

  /**
   * Opens the port and checks the controller: it must answer, count in tenths (606 = 1) and in
   * Celsius (901 = 1); its set point limits (602/603) bound setSetPoint.
   */
  static async open(opts: WatlowF4Options): Promise<WatlowF4> {
    const client = new ModbusRTU();
    const name = opts.name ?? 'watlow-f4';
    const openTimeoutMs = opts.openTimeoutMs ?? 5000;
    try {
      await withTimeout(
        client.connectRTUBuffered(opts.path, {
          baudRate: opts.baudRate ?? WATLOW_F4.BAUD_RATE,
          dataBits: 8,
          parity: 'none',
          stopBits: 1,
        }),
        openTimeoutMs,
        () =>
          new InstrumentError(
            'TIMEOUT',
            `${name}: opening ${opts.path} took over ${openTimeoutMs} ms; check the port is not held by another process`,
          ),
      );
    } catch (error) {
      closeQuietly(client);
      if (error instanceof InstrumentError) throw error;
      throw new InstrumentError(
        'UNAVAILABLE',
        `${name}: cannot open ${opts.path}: ${(error as ModbusSerialError).message}; check the station file's port and its permissions`,
        { cause: error },
      );
    }
    client.setID(opts.slaveId ?? WATLOW_F4.SLAVE_ID);
    client.setTimeout(opts.timeoutMs ?? 1000);
    // A port error (cable pulled) is reported through the failing request; an unhandled
    // 'error' event would crash the process instead.
    client.on('error', () => {});
    const chamber = new WatlowF4(client, opts);
    try {
      await chamber.#checkController(opts.limits);
    } catch (error) {
      await chamber.close();
      throw error;
    }
    return chamber;
  }

  async readTemperature(): Promise<number> {
    return decodeTenths(await this.readRegister(WATLOW_F4.PROCESS_VALUE));
  }

  async readSetPoint(): Promise<number> {
    return decodeTenths(await this.readRegister(WATLOW_F4.SET_POINT));
  }

  /** The effective set point range, C. */
  get limits(): { lowC: number; highC: number } {
    return { ...this.#limits };
  }

  async setSetPoint(celsius: number): Promise<void> {
    if (typeof celsius !== 'number' || !Number.isFinite(celsius)) {
      throw new InstrumentError(
        'INVALID_VALUE',
        `${this.name} on ${this.path}: set point ${celsius} is not a finite temperature in C`,
      );
    }
    const { lowC, highC } = this.#limits;
    if (celsius < lowC || celsius > highC || !fitsTenths(celsius)) {
      throw new InstrumentError(
        'OUT_OF_RANGE',
        `${this.name} on ${this.path}: set point ${celsius} C is outside ${lowC} .. ${highC} C ` +
          `(controller limits in registers ${WATLOW_F4.SET_POINT_LOW_LIMIT}/${WATLOW_F4.SET_POINT_HIGH_LIMIT}, ` +
          'narrowed by the station file); choose a target inside it',
      );
    }
    await this.writeRegister(WATLOW_F4.SET_POINT, encodeTenths(celsius));
  }

  /** Reads one holding register, raw (unsigned 16-bit). */
  readRegister(register: number): Promise<number> {
    return this.#request(`read of register ${register}`, async (client) => {
      const result = await client.readHoldingRegisters(register, 1);
      const value = result.data[0];
      if (result.data.length !== 1 || value === undefined) {
        throw new InstrumentError(
          'FRAMING',
          `${this.name} on ${this.path}: read of register ${register} returned ${result.data.length} registers, not 1`,
        );
      }
      return value;
    });
  }

  /** Writes one holding register (function 06) and checks the controller's echo. */
  writeRegister(register: number, raw: number): Promise<void> {
    return this.#request(`write of ${raw} to register ${register}`, async (client) => {
      const result = await client.writeRegister(register, raw & 0xffff);
      if (result.address !== register || result.value !== (raw & 0xffff)) {
        throw new InstrumentError(
          'FRAMING',
          `${this.name} on ${this.path}: write to register ${register} was echoed as ` +
            `${result.value} at register ${result.address}; check nothing else is on the bus`,
        );
      }
    });
  }

  /** Closes the port after any request in flight has finished. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#queue.catch(() => {});
      if (!this.#client.isOpen) return;
      await withTimeout(
        new Promise<void>((resolve) => this.#client.close(() => resolve())),
        this.#timeoutMs + 1000,
        () => new InstrumentError('TIMEOUT', `${this.name}: closing ${this.path} did not finish`),
      );
    })();
    return this.#closing;
  }

  async #checkController(narrower?: { lowC: number; highC: number }): Promise<void> {
    const decimals = await this.readRegister(WATLOW_F4.DECIMAL_PLACES);
    if (decimals !== 1) {
      throw new InstrumentError(
        'CONFIG',
        `${this.name} on ${this.path}: register ${WATLOW_F4.DECIMAL_PLACES} (input 1 decimal places) reads ${decimals}, ` +
          'the driver needs 1 (tenths); set the F4 input 1 decimal to 0.0',
      );
    }
    const units = await this.readRegister(WATLOW_F4.UNITS);
    if (units !== 1) {
      throw new InstrumentError(
        'CONFIG',
        `${this.name} on ${this.path}: register ${WATLOW_F4.UNITS} (units) reads ${units}, not Celsius; ` +
          'set the F4 temperature units to C',
      );
    }
    const lowC = decodeTenths(await this.readRegister(WATLOW_F4.SET_POINT_LOW_LIMIT));
    const highC = decodeTenths(await this.readRegister(WATLOW_F4.SET_POINT_HIGH_LIMIT));
    this.#limits = {
      lowC: Math.max(lowC, narrower?.lowC ?? -Infinity),
      highC: Math.min(highC, narrower?.highC ?? Infinity),
    };
    if (this.#limits.lowC > this.#limits.highC) {
      throw new InstrumentError(
        'CONFIG',
        `${this.name} on ${this.path}: the station's limits ${narrower?.lowC} .. ${narrower?.highC} C do not overlap ` +
          `the controller's ${lowC} .. ${highC} C`,
      );
    }
  }

  #request<T>(what: string, run: (client: ModbusClient) => Promise<T>): Promise<T> {
    const next = this.#queue.then(async () => {
      if (this.#closing || !this.#client.isOpen) {
        throw new InstrumentError(
          'DISCONNECTED',
          `${this.name}: ${what} on ${this.path} failed: the port is closed; reopen the instrument`,
        );
      }
      if (this.#staleBytesPossible) await this.#discardLateAnswer();
      // modbus-serial times the request out itself; this outer bound covers a port that never
      // calls back at all.
      const guardMs = this.#timeoutMs + 1000;
      try {
        return await withTimeout(run(this.#client), guardMs, () => this.#timeout(what));
      } catch (error) {
        const failure = this.#translate(error, what);
        if (failure.code === 'TIMEOUT') this.#staleBytesPossible = true;
        throw failure;
      }
    });
    this.#queue = next.catch(() => {});
    return next;
  }

  /**
   * After a timeout the controller's late answer may still arrive. modbus-serial's buffered
   * port would match it to the next request of the same function code (a read answer carries
   * no register address), so wait out a quiet spell and drop what came in.
   */
  async #discardLateAnswer(): Promise<void> {
    await sleep(Math.min(100, this.#timeoutMs));
    const port = (this.#client as unknown as { _port?: { _buffer?: unknown } })._port;
    if (port && Buffer.isBuffer(port._buffer)) port._buffer = Buffer.alloc(0);
    this.#staleBytesPossible = false;
  }

  #timeout(what: string, cause?: unknown): InstrumentError {
    return new InstrumentError(
      'TIMEOUT',
      `${this.name}: no answer from slave ${this.#client.getID()} on ${this.path} to ${what} within ${this.#timeoutMs} ms; ` +
        'check the cable, that the controller is powered, and its Modbus address and baud rate',
      { cause },
    );
  }

  #translate(error: unknown, what: string): InstrumentError {
    if (error instanceof InstrumentError) return error;
    const e = error as ModbusSerialError;
    if (e?.errno === 'ETIMEDOUT') return this.#timeout(what, error);
    if (typeof e?.modbusCode === 'number') {
      const code = e.modbusCode;
      const meaning = EXCEPTION_NAMES[code] ?? 'unknown exception';
      const advice =
        code === 2
          ? 'the controller has no such register (check the register number and the F4 model)'
          : code === 3
            ? "the controller refused the value (check it is within the controller's limits)"
            : 'see the F4 communications manual';
      return new InstrumentError(
        'MODBUS_EXCEPTION',
        `${this.name} on ${this.path}: ${what} answered Modbus exception ${code} (${meaning}); ${advice}`,
        { cause: error },
      );
    }
    const message = e?.message ?? String(error);
    if (message === 'CRC error') {
      return new InstrumentError(
        'CRC',
        `${this.name} on ${this.path}: the answer to ${what} failed its CRC check; check the cable, ` +
          'termination and that only one master is on the bus',
        { cause: error },
      );
    }
    if (message === 'Port Not Open') {
      return new InstrumentError(
        'DISCONNECTED',
        `${this.name}: ${what} on ${this.path} failed: the port is closed; reopen the instrument`,
        { cause: error },
      );
    }
    return new InstrumentError(
      'FRAMING',
      `${this.name} on ${this.path}: ${what} failed: ${message}; check the baud rate and that only one slave has this address`,
      { cause: error },
    );
  }
}

function closeQuietly(client: ModbusClient): void {
  try {
    if (client.isOpen) client.close(() => {});
  } catch {
    // Nothing more to release: the open itself failed.
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
