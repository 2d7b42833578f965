/**
 * A Watlow F4 climate chamber as a Modbus RTU slave on any Duplex stream (in the rig, a
 * serialport SerialPort on one end of a socat pty pair), with a linear thermal model.
 *
 * The RTU slave is written here rather than taken from modbus-serial's ServerSerial because
 * ServerSerial opens its own SerialPort from a path (it cannot sit on a given stream), answers
 * through a register vector without per-register exception control, and could not inject the
 * faults (bad CRC, silence) the driver's tests need.
 */
import type { Duplex } from 'node:stream';
import {
  crcOk,
  EXCEPTION_ILLEGAL_DATA_ADDRESS,
  EXCEPTION_ILLEGAL_DATA_VALUE,
  EXCEPTION_ILLEGAL_FUNCTION,
  exceptionResponse,
  FC_READ_HOLDING_REGISTERS,
  FC_WRITE_MULTIPLE_REGISTERS,
  FC_WRITE_SINGLE_REGISTER,
  interFrameSilenceMs,
  MAX_READ_QUANTITY,
  MAX_WRITE_QUANTITY,
  requestLength,
  withCrc,
} from './modbus-rtu.ts';
import { WATLOW_F4 } from './registers.ts';

export interface WatlowSimulatorOptions {
  /** Slave address that answers; every other address gets silence. Default 1. */
  slaveId?: number;
  /** Start temperature, both process value and set point unless setPointC is given. Default 23.5. */
  initialC?: number;
  setPointC?: number;
  /** How fast the process value moves toward the set point, C per minute. Default 2. */
  rampCPerMin?: number;
  /** Set point limits the controller enforces (registers 602/603). Default -40 .. 180. */
  lowLimitC?: number;
  highLimitC?: number;
  /**
   * What registers 606 (decimal places) and 901 (units) report, to exercise a master's
   * configuration checks; the temperature registers stay in tenths of a degree Celsius.
   * Defaults 1 and 'C'.
   */
  decimalPlaces?: number;
  units?: 'C' | 'F';
  /** Milliseconds, monotonic; inject a manual clock to make the thermal model deterministic. */
  clock?: () => number;
  /**
   * Period of the timer that advances the model and fires onTemperature between requests.
   * Default 250 with the real clock, 0 (no timer; call tick()) with an injected clock.
   */
  tickMs?: number;
  /** Baud rate the 3.5-character silence is computed from. Default 19200. */
  baudRate?: number;
  /**
   * Silence that ends a frame whose length is not known from its header, ms. A pty delivers
   * bytes in scheduler-sized chunks, not at line rate, so the default is the larger of 3.5
   * character times and 20 ms; known requests are cut by length and never wait for it.
   */
  silenceMs?: number;
  /** Delay before each answer, like a real controller's turnaround. Default 0. */
  responseDelayMs?: number;
  onTemperature?: (celsius: number) => void;
  /** Every request the slave accepted (CRC good, its address) and its answer. */
  onExchange?: (exchange: Exchange) => void;
}

export interface Exchange {
  request: Uint8Array;
  /** Undefined when the slave stayed silent. */
  response: Uint8Array | undefined;
}

/** One-shot faults for testing a master: the next answer has a broken CRC, or never comes. */
export type SimulatorFault = 'bad-crc' | 'silence';

type Register = { read: () => number; write?: (raw: number) => number | undefined };

export class WatlowF4Simulator {
  readonly slaveId: number;
  #stream: Duplex | undefined;
  #buffer: Uint8Array = new Uint8Array(0);
  #silenceTimer: NodeJS.Timeout | undefined;
  #tickTimer: NodeJS.Timeout | undefined;
  readonly #clock: () => number;
  readonly #silenceMs: number;
  readonly #responseDelayMs: number;
  readonly #listeners = new Set<(celsius: number) => void>();
  readonly #onExchange: ((exchange: Exchange) => void) | undefined;
  readonly #registers: Map<number, Register>;
  readonly #decimalPlaces: number;
  readonly #units: 'C' | 'F';
  #faults: SimulatorFault[] = [];
  #pv: number;
  #sp: number;
  #rampCPerMin: number;
  #lowLimitTenths: number;
  #highLimitTenths: number;
  #lastUpdate: number;
  #lastReported: number;
  #lastExchange: Exchange | undefined;
  readonly #onData = (chunk: Buffer) => this.#receive(chunk);

  constructor(opts: WatlowSimulatorOptions = {}) {
    this.slaveId = opts.slaveId ?? WATLOW_F4.SLAVE_ID;
    this.#clock = opts.clock ?? (() => performance.now());
    this.#pv = opts.initialC ?? 23.5;
    this.#sp = opts.setPointC ?? this.#pv;
    this.#rampCPerMin = checkRate(opts.rampCPerMin ?? 2);
    this.#lowLimitTenths = Math.round((opts.lowLimitC ?? -40) * 10);
    this.#highLimitTenths = Math.round((opts.highLimitC ?? 180) * 10);
    this.#silenceMs =
      opts.silenceMs ?? Math.max(interFrameSilenceMs(opts.baudRate ?? WATLOW_F4.BAUD_RATE), 20);
    this.#responseDelayMs = opts.responseDelayMs ?? 0;
    this.#onExchange = opts.onExchange;
    if (opts.onTemperature) this.#listeners.add(opts.onTemperature);
    this.#lastUpdate = this.#clock();
    this.#lastReported = this.#pv;
    this.#decimalPlaces = opts.decimalPlaces ?? 1;
    this.#units = opts.units ?? 'C';
    this.#registers = this.#registerMap();
    const tickMs = opts.tickMs ?? (opts.clock ? 0 : 250);
    if (tickMs > 0) {
      this.#tickTimer = setInterval(() => this.tick(), tickMs);
      // The model's own timer must never be what keeps a test run alive.
      this.#tickTimer.unref();
    }
  }

  /** Starts answering requests that arrive on the stream (a SerialPort is a Duplex). */
  attach(stream: Duplex): this {
    this.detach();
    this.#stream = stream;
    stream.on('data', this.#onData);
    return this;
  }

  detach(): void {
    this.#stream?.off('data', this.#onData);
    this.#stream = undefined;
    this.#buffer = new Uint8Array(0);
    clearTimeout(this.#silenceTimer);
  }

  /** Stops the timers and detaches; the stream stays open (its owner closes it). */
  close(): void {
    this.detach();
    clearInterval(this.#tickTimer);
    this.#tickTimer = undefined;
  }

  /** Subscribes to model temperature changes; returns the unsubscribe function. */
  onTemperature(listener: (celsius: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Advances the thermal model to the clock's now and reports a changed temperature. */
  tick(): void {
    const now = this.#clock();
    const dt = Math.max(0, now - this.#lastUpdate);
    this.#lastUpdate = now;
    const step = (this.#rampCPerMin * dt) / 60_000;
    const gap = this.#sp - this.#pv;
    this.#pv = Math.abs(gap) <= step ? this.#sp : this.#pv + Math.sign(gap) * step;
    if (this.#pv !== this.#lastReported) {
      this.#lastReported = this.#pv;
      for (const listener of this.#listeners) listener(this.#pv);
    }
  }

  get processValue(): number {
    this.tick();
    return this.#pv;
  }

  /** Forces the chamber temperature (a door opened, a test's starting point). */
  set processValue(celsius: number) {
    this.tick();
    this.#pv = celsius;
    this.tick();
  }

  get setPoint(): number {
    return this.#sp;
  }

  /** Sets the set point as the front panel would, without the Modbus limits check. */
  set setPoint(celsius: number) {
    this.tick();
    this.#sp = celsius;
  }

  get rampCPerMin(): number {
    return this.#rampCPerMin;
  }

  set rampCPerMin(rate: number) {
    this.tick();
    this.#rampCPerMin = checkRate(rate);
  }

  get lastExchange(): Exchange | undefined {
    return this.#lastExchange;
  }

  /** Queues a fault for the next accepted request. */
  injectFault(fault: SimulatorFault): void {
    this.#faults.push(fault);
  }

  #registerMap(): Map<number, Register> {
    const tenths = (celsius: number) => Math.round(celsius * 10) & 0xffff;
    const signed = (raw: number) => (raw & 0x8000 ? raw - 0x10000 : raw);
    return new Map<number, Register>([
      [WATLOW_F4.PROCESS_VALUE, { read: () => tenths(this.processValue) }],
      [
        WATLOW_F4.SET_POINT,
        {
          read: () => tenths(this.#sp),
          write: (raw) => {
            const value = signed(raw);
            if (value < this.#lowLimitTenths || value > this.#highLimitTenths) {
              return EXCEPTION_ILLEGAL_DATA_VALUE;
            }
            this.setPoint = value / 10;
            return undefined;
          },
        },
      ],
      [WATLOW_F4.SET_POINT_LOW_LIMIT, { read: () => this.#lowLimitTenths & 0xffff }],
      [WATLOW_F4.SET_POINT_HIGH_LIMIT, { read: () => this.#highLimitTenths & 0xffff }],
      [WATLOW_F4.DECIMAL_PLACES, { read: () => this.#decimalPlaces }],
      [WATLOW_F4.UNITS, { read: () => (this.#units === 'C' ? 1 : 0) }],
    ]);
  }

  #receive(chunk: Buffer): void {
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.length);
    this.#buffer = joined;
    clearTimeout(this.#silenceTimer);
    // Cut every complete frame whose length the header gives; what is left waits for silence.
    for (;;) {
      const length = requestLength(this.#buffer);
      if (length === undefined || length === null || this.#buffer.length < length) break;
      const frame = this.#buffer.slice(0, length);
      this.#buffer = this.#buffer.slice(length);
      if (!crcOk(frame)) {
        // Misaligned or corrupted: as the spec has it, discard and resynchronise on silence.
        this.#buffer = new Uint8Array(0);
        return;
      }
      this.#handle(frame);
    }
    if (this.#buffer.length > 0) {
      this.#silenceTimer = setTimeout(() => this.#onSilence(), this.#silenceMs);
    }
  }

  /** A frame ended by silence: a function code this slave does not know, or a fragment. */
  #onSilence(): void {
    const frame = this.#buffer;
    this.#buffer = new Uint8Array(0);
    if (requestLength(frame) === null && crcOk(frame)) this.#handle(frame);
  }

  #handle(request: Uint8Array): void {
    if (request[0] !== this.slaveId) return;
    let response: Uint8Array | undefined = this.#answer(request);
    const fault = this.#faults.shift();
    if (fault === 'silence') response = undefined;
    if (fault === 'bad-crc' && response) {
      response = response.slice();
      response[response.length - 1]! ^= 0xff;
    }
    this.#lastExchange = { request, response };
    this.#onExchange?.(this.#lastExchange);
    if (!response) return;
    const stream = this.#stream;
    const send = () => {
      if (stream && !stream.destroyed && stream.writable) stream.write(response);
    };
    if (this.#responseDelayMs > 0) setTimeout(send, this.#responseDelayMs);
    else send();
  }

  #answer(request: Uint8Array): Uint8Array {
    const fc = request[1]!;
    const view = new DataView(request.buffer, request.byteOffset, request.byteLength);
    const fail = (code: number) => exceptionResponse(this.slaveId, fc, code);
    switch (fc) {
      case FC_READ_HOLDING_REGISTERS: {
        const address = view.getUint16(2);
        const quantity = view.getUint16(4);
        if (quantity < 1 || quantity > MAX_READ_QUANTITY) return fail(EXCEPTION_ILLEGAL_DATA_VALUE);
        const registers = this.#range(address, quantity);
        if (!registers) return fail(EXCEPTION_ILLEGAL_DATA_ADDRESS);
        const data = registers.flatMap((r) => {
          const raw = r.read();
          return [raw >>> 8, raw & 0xff];
        });
        return withCrc([this.slaveId, fc, data.length, ...data]);
      }
      case FC_WRITE_SINGLE_REGISTER: {
        const register = this.#registers.get(view.getUint16(2));
        if (!register?.write) return fail(EXCEPTION_ILLEGAL_DATA_ADDRESS);
        const exception = register.write(view.getUint16(4));
        // The normal answer echoes the request.
        return exception === undefined ? request : fail(exception);
      }
      case FC_WRITE_MULTIPLE_REGISTERS: {
        const address = view.getUint16(2);
        const quantity = view.getUint16(4);
        if (quantity < 1 || quantity > MAX_WRITE_QUANTITY || request[6] !== quantity * 2) {
          return fail(EXCEPTION_ILLEGAL_DATA_VALUE);
        }
        const registers = this.#range(address, quantity);
        if (!registers?.every((r) => r.write)) return fail(EXCEPTION_ILLEGAL_DATA_ADDRESS);
        for (let i = 0; i < quantity; i++) {
          const exception = registers[i]!.write!(view.getUint16(7 + 2 * i));
          if (exception !== undefined) return fail(exception);
        }
        return withCrc(request.subarray(0, 6));
      }
      default:
        return fail(EXCEPTION_ILLEGAL_FUNCTION);
    }
  }

  #range(address: number, quantity: number): Register[] | undefined {
    const registers: Register[] = [];
    for (let a = address; a < address + quantity; a++) {
      const register = this.#registers.get(a);
      if (!register) return undefined;
      registers.push(register);
    }
    return registers;
  }
}

function checkRate(rate: number): number {
  if (!Number.isFinite(rate) || rate < 0) {
    throw new RangeError(`ramp rate must be a finite number of C per minute >= 0, got ${rate}`);
  }
  return rate;
}
