/**
 * A StandardFirmata board (Arduino Uno) simulated on a byte stream. It speaks the board's side
 * of the Firmata protocol (firmata/protocol, protocol.md) on any Node Duplex: a SerialPort
 * opened on one end of a socat pty pair, a @serialport/binding-mock port, or an in-memory
 * stream. Pin changes are reported through callbacks and events so a station can wire the
 * button pin to the emulated chip's presence source and the power pin to its power.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { SerialPort } from 'serialport';
import { openSerialPort } from '../serial.ts';

/** Command bytes (protocol.md, "Message Types"). */
export const FIRMATA = {
  DIGITAL_MESSAGE: 0x90,
  ANALOG_MESSAGE: 0xe0,
  REPORT_ANALOG: 0xc0,
  REPORT_DIGITAL: 0xd0,
  START_SYSEX: 0xf0,
  SET_PIN_MODE: 0xf4,
  SET_DIGITAL_PIN_VALUE: 0xf5,
  END_SYSEX: 0xf7,
  REPORT_VERSION: 0xf9,
  SYSTEM_RESET: 0xff,
  // Sysex sub-commands (protocol.md, "Sysex Message Format").
  ANALOG_MAPPING_QUERY: 0x69,
  ANALOG_MAPPING_RESPONSE: 0x6a,
  CAPABILITY_QUERY: 0x6b,
  CAPABILITY_RESPONSE: 0x6c,
  PIN_STATE_QUERY: 0x6d,
  PIN_STATE_RESPONSE: 0x6e,
  EXTENDED_ANALOG: 0x6f,
  REPORT_FIRMWARE: 0x79,
  SAMPLING_INTERVAL: 0x7a,
} as const;

/** Pin modes (protocol.md, "Supported Modes"). */
export const PIN_MODE = {
  INPUT: 0x00,
  OUTPUT: 0x01,
  ANALOG: 0x02,
  PWM: 0x03,
  SERVO: 0x04,
  I2C: 0x06,
  PULLUP: 0x0b,
} as const;

/** One pin's capabilities as the capability response lists them: [mode, resolution] pairs. */
export type PinCapabilities = ReadonlyArray<readonly [mode: number, resolution: number]>;

/**
 * The Arduino Uno's 20 pins as StandardFirmata describes them: 0 and 1 carry the USB serial
 * link and list no modes; 2-19 are digital; 14-19 (A0-A5) are also analog (10-bit);
 * 3, 5, 6, 9, 10, 11 are PWM (8-bit); 18 and 19 are SDA and SCL.
 */
export function unoCapabilities(): PinCapabilities[] {
  const pwm = new Set([3, 5, 6, 9, 10, 11]);
  const pins: PinCapabilities[] = [];
  for (let pin = 0; pin < 20; pin++) {
    if (pin < 2) {
      pins.push([]);
      continue;
    }
    const modes: Array<readonly [number, number]> = [
      [PIN_MODE.INPUT, 1],
      [PIN_MODE.PULLUP, 1],
      [PIN_MODE.OUTPUT, 1],
    ];
    if (pin >= 14) modes.push([PIN_MODE.ANALOG, 10]);
    if (pwm.has(pin)) modes.push([PIN_MODE.PWM, 8]);
    modes.push([PIN_MODE.SERVO, 14]);
    if (pin === 18 || pin === 19) modes.push([PIN_MODE.I2C, 1]);
    pins.push(modes);
  }
  return pins;
}

export interface FirmataSimulatorOptions {
  /** Pin driving the solenoid over the chip's button (active high). */
  buttonPin?: number;
  /** Pin driving the relay in the chip's USB power line. */
  powerPin?: number;
  /** True (default) when a HIGH power pin means the chip is powered. */
  powerActiveHigh?: boolean;
  /** Reported in the firmware query answer; StandardFirmata reports its sketch file name. */
  firmwareName?: string;
  /** Protocol version for 0xF9 (default 2.5). */
  protocolVersion?: readonly [major: number, minor: number];
  /** Firmware version for the firmware query (default 2.5). */
  firmwareVersion?: readonly [major: number, minor: number];
  /** Per-pin capabilities; defaults to the Uno's. */
  capabilities?: PinCapabilities[];
  /** Any output pin changed level. */
  onPin?: (pin: number, value: 0 | 1) => void;
  /** The button pin went HIGH then LOW; holdMs is how long it stayed HIGH. */
  onPress?: (holdMs: number) => void;
  /** The power pin changed level; `on` already accounts for powerActiveHigh. */
  onPower?: (on: boolean) => void;
}

export interface FirmataSimulatorEvents {
  pin: [pin: number, value: 0 | 1];
  /** The button went down (true) or up (false). */
  button: [down: boolean];
  press: [holdMs: number];
  power: [on: boolean];
  /** Raw bytes from the host, as they arrived. */
  rx: [bytes: Buffer];
  /** Raw bytes sent to the host. */
  tx: [bytes: Buffer];
}

interface PinState {
  mode: number;
  /** Output level for OUTPUT pins; pull-up flag for INPUT pins (Firmata's "pin state"). */
  state: number;
}

type Pending =
  | { kind: 'none' }
  | { kind: 'fixed'; command: number; need: number; data: number[] }
  | { kind: 'sysex'; data: number[] };

/** Largest sysex body kept; StandardFirmata's input buffer is 64 bytes, so more is garbage. */
const MAX_SYSEX = 1024;

export class FirmataSimulator extends EventEmitter<FirmataSimulatorEvents> {
  readonly buttonPin: number | undefined;
  readonly powerPin: number | undefined;
  readonly powerActiveHigh: boolean;
  readonly firmwareName: string;
  readonly protocolVersion: readonly [number, number];
  readonly firmwareVersion: readonly [number, number];
  readonly capabilities: PinCapabilities[];
  /** Reporting enables and sampling interval as last set by the host. */
  readonly reportDigital = new Set<number>();
  readonly reportAnalog = new Set<number>();
  samplingIntervalMs = 19;

  readonly #opts: FirmataSimulatorOptions;
  readonly #pins: PinState[];
  #pending: Pending = { kind: 'none' };
  #stream: Duplex | undefined;
  #ownsStream = false;
  #buttonDownAt: number | undefined;
  readonly #onData = (chunk: Buffer) => this.receive(chunk);

  constructor(opts: FirmataSimulatorOptions = {}) {
    super();
    this.#opts = opts;
    this.buttonPin = opts.buttonPin;
    this.powerPin = opts.powerPin;
    this.powerActiveHigh = opts.powerActiveHigh ?? true;
    this.firmwareName = opts.firmwareName ?? 'StandardFirmata.ino';
    this.protocolVersion = opts.protocolVersion ?? [2, 5];
    this.firmwareVersion = opts.firmwareVersion ?? [2, 5];
    this.capabilities = opts.capabilities ?? unoCapabilities();
    // Pins the reset leaves alone (0 and 1, the serial link) keep a zeroed mode: INPUT.
    this.#pins = this.capabilities.map(() => ({ mode: PIN_MODE.INPUT, state: 0 }));
    // Boot state, without events: nothing was listening while the board booted.
    this.#resetPins(false);
  }

  /**
   * Opens `path` with serialport and serves it (e.g. the simulator end of a pty pair).
   * `close()` then closes that port too.
   */
  static async openPort(
    path: string,
    opts: FirmataSimulatorOptions & { baudRate?: number } = {},
  ): Promise<FirmataSimulator> {
    const port = await openSerialPort(path, opts.baudRate ?? 57600, 'the Firmata simulator');
    const sim = new FirmataSimulator(opts);
    sim.attach(port);
    sim.#ownsStream = true;
    return sim;
  }

  /** Serves `stream`: host bytes are read from it, answers are written to it. */
  attach(stream: Duplex): void {
    this.detach();
    this.#stream = stream;
    stream.on('data', this.#onData);
  }

  /** Stops serving the stream (without closing it). */
  detach(): void {
    this.#stream?.off('data', this.#onData);
    this.#stream = undefined;
    this.#ownsStream = false;
  }

  /** Detaches, closing the port if `openPort` opened it. Idempotent. */
  async close(): Promise<void> {
    const stream = this.#stream;
    const owns = this.#ownsStream;
    this.detach();
    if (!owns || !stream) return;
    const port = stream as unknown as SerialPort;
    if (!port.isOpen) return;
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  /**
   * What StandardFirmata sends when it boots: its protocol version then its firmware name.
   * A real Uno boots when the host opens the port (DTR reset), so the host hears this; a
   * simulator is not reset by the host's open, so callers decide when (if ever) to send it.
   */
  announce(): void {
    this.#send(this.versionReport());
    this.#send(this.firmwareReport());
  }

  /** The board's current mode for `pin` (undefined when the board has no such pin). */
  pinMode(pin: number): number | undefined {
    return this.#pins[pin]?.mode;
  }

  /** The level an OUTPUT pin drives (0 for a pin in any other mode). */
  pinValue(pin: number): 0 | 1 {
    const p = this.#pins[pin];
    return p && p.mode === PIN_MODE.OUTPUT && p.state ? 1 : 0;
  }

  /** Whether the chip is powered, as the power pin currently says (undefined without one). */
  get powered(): boolean | undefined {
    if (this.powerPin === undefined) return undefined;
    return (this.pinValue(this.powerPin) === 1) === this.powerActiveHigh;
  }

  /** Feeds bytes from the host; answers go to the attached stream (and the `tx` event). */
  receive(bytes: Uint8Array): void {
    this.emit('rx', Buffer.from(bytes));
    for (const byte of bytes) this.#byte(byte);
  }

  // --- frames the board sends -------------------------------------------------------------

  /** protocol.md: 0xF9 major minor. */
  versionReport(): number[] {
    return [FIRMATA.REPORT_VERSION, this.protocolVersion[0], this.protocolVersion[1]];
  }

  /** protocol.md: 0xF0 0x79 major minor, the name as 7-bit LSB/MSB pairs, 0xF7. */
  firmwareReport(): number[] {
    const name = [...Buffer.from(this.firmwareName, 'utf8')].flatMap((c) => [c & 0x7f, c >> 7]);
    return [
      FIRMATA.START_SYSEX,
      FIRMATA.REPORT_FIRMWARE,
      this.firmwareVersion[0],
      this.firmwareVersion[1],
      ...name,
      FIRMATA.END_SYSEX,
    ];
  }

  /** protocol.md: 0xF0 0x6C, per pin its (mode, resolution) pairs then 0x7F, 0xF7. */
  capabilityResponse(): number[] {
    const body = this.capabilities.flatMap((modes) => [...modes.flat(), 0x7f]);
    return [FIRMATA.START_SYSEX, FIRMATA.CAPABILITY_RESPONSE, ...body, FIRMATA.END_SYSEX];
  }

  /** protocol.md: 0xF0 0x6A, per pin its analog channel or 127, 0xF7. */
  analogMappingResponse(): number[] {
    let channel = 0;
    const body = this.capabilities.map((modes) =>
      modes.some(([m]) => m === PIN_MODE.ANALOG) ? channel++ : 0x7f,
    );
    return [FIRMATA.START_SYSEX, FIRMATA.ANALOG_MAPPING_RESPONSE, ...body, FIRMATA.END_SYSEX];
  }

  // --- parsing ------------------------------------------------------------------------------

  #byte(byte: number): void {
    const pending = this.#pending;
    if (pending.kind === 'sysex') {
      if (byte === FIRMATA.END_SYSEX) {
        this.#pending = { kind: 'none' };
        this.#sysex(pending.data);
      } else if (byte < 0x80) {
        if (pending.data.length < MAX_SYSEX) pending.data.push(byte);
      } else {
        // A command byte inside a sysex means the sysex was cut off: drop it, start anew.
        this.#pending = { kind: 'none' };
        this.#byte(byte);
      }
      return;
    }
    if (byte < 0x80) {
      // Data bytes only mean something after a command byte; stray ones are dropped.
      if (pending.kind !== 'fixed') return;
      pending.data.push(byte);
      if (pending.data.length === pending.need) {
        this.#pending = { kind: 'none' };
        this.#command(pending.command, pending.data);
      }
      return;
    }
    this.#pending = { kind: 'none' };
    const high = byte & 0xf0;
    if (byte === FIRMATA.START_SYSEX) this.#pending = { kind: 'sysex', data: [] };
    else if (byte === FIRMATA.REPORT_VERSION || byte === FIRMATA.SYSTEM_RESET) this.#command(byte, []);
    else if (byte === FIRMATA.SET_PIN_MODE || byte === FIRMATA.SET_DIGITAL_PIN_VALUE)
      this.#pending = { kind: 'fixed', command: byte, need: 2, data: [] };
    else if (high === FIRMATA.DIGITAL_MESSAGE || high === FIRMATA.ANALOG_MESSAGE)
      this.#pending = { kind: 'fixed', command: byte, need: 2, data: [] };
    else if (high === FIRMATA.REPORT_ANALOG || high === FIRMATA.REPORT_DIGITAL)
      this.#pending = { kind: 'fixed', command: byte, need: 1, data: [] };
    // Anything else (MIDI realtime bytes, unknown commands) is ignored, as the sketch does.
  }

  #command(command: number, data: number[]): void {
    const [a = 0, b = 0] = data;
    const high = command & 0xf0;
    if (command === FIRMATA.REPORT_VERSION) this.#send(this.versionReport());
    else if (command === FIRMATA.SYSTEM_RESET) this.#resetPins(true);
    else if (command === FIRMATA.SET_PIN_MODE) this.#setMode(a, b);
    else if (command === FIRMATA.SET_DIGITAL_PIN_VALUE) {
      // protocol.md (v2.5): 0xF5 pin value. StandardFirmata applies it to OUTPUT pins only.
      if (this.#pins[a]?.mode === PIN_MODE.OUTPUT) this.#drive(a, b ? 1 : 0);
    } else if (high === FIRMATA.DIGITAL_MESSAGE) this.#writePort(command & 0x0f, a | (b << 7));
    else if (high === FIRMATA.REPORT_DIGITAL) {
      if (a) this.reportDigital.add(command & 0x0f);
      else this.reportDigital.delete(command & 0x0f);
    } else if (high === FIRMATA.REPORT_ANALOG) {
      if (a) this.reportAnalog.add(command & 0x0f);
      else this.reportAnalog.delete(command & 0x0f);
    }
    // ANALOG_MESSAGE (PWM/servo writes) has no effect on the pins this rig cares about.
  }

  #sysex(data: number[]): void {
    const [id, ...args] = data;
    switch (id) {
      case FIRMATA.REPORT_FIRMWARE:
        this.#send(this.firmwareReport());
        break;
      case FIRMATA.CAPABILITY_QUERY:
        this.#send(this.capabilityResponse());
        break;
      case FIRMATA.ANALOG_MAPPING_QUERY:
        this.#send(this.analogMappingResponse());
        break;
      case FIRMATA.PIN_STATE_QUERY: {
        // protocol.md: 0xF0 0x6E pin mode state(7-bit chunks, at least one) 0xF7.
        const pin = args[0];
        if (pin === undefined) break;
        const p = this.#pins[pin];
        const answer: number[] = [FIRMATA.START_SYSEX, FIRMATA.PIN_STATE_RESPONSE, pin];
        if (p) {
          answer.push(p.mode, p.state & 0x7f);
          if (p.state > 0x7f) answer.push((p.state >> 7) & 0x7f);
          if (p.state > 0x3fff) answer.push((p.state >> 14) & 0x7f);
        }
        answer.push(FIRMATA.END_SYSEX);
        this.#send(answer);
        break;
      }
      case FIRMATA.SAMPLING_INTERVAL:
        if (args.length >= 2) this.samplingIntervalMs = args[0]! | (args[1]! << 7);
        break;
      default:
        // Unknown or unmodelled features (I2C, servo config, strings) are ignored.
        break;
    }
  }

  // --- pins -----------------------------------------------------------------------------------

  #supports(pin: number, mode: number): boolean {
    return this.capabilities[pin]?.some(([m]) => m === mode) ?? false;
  }

  /** StandardFirmata's reset: analog-capable pins become ANALOG, other digital pins OUTPUT LOW. */
  #resetPins(notify: boolean): void {
    this.reportDigital.clear();
    this.reportAnalog.clear();
    this.samplingIntervalMs = 19;
    for (let pin = 0; pin < this.#pins.length; pin++) {
      if (this.#supports(pin, PIN_MODE.ANALOG)) this.#setMode(pin, PIN_MODE.ANALOG, notify);
      else if (this.#supports(pin, PIN_MODE.OUTPUT)) this.#setMode(pin, PIN_MODE.OUTPUT, notify);
    }
  }

  #setMode(pin: number, mode: number, notify = true): void {
    const p = this.#pins[pin];
    // The sketch ignores modes a pin does not support (it answers with a string message).
    if (!p || !this.#supports(pin, mode)) return;
    const before = this.pinValue(pin);
    p.mode = mode;
    // Entering OUTPUT drives the pin LOW first; any other mode stops driving it.
    p.state = 0;
    if (notify) this.#changed(pin, before);
  }

  /** protocol.md: 0x90|port LSB MSB carries the 8 pins of a port; only OUTPUT pins move. */
  #writePort(port: number, value: number): void {
    for (let bit = 0; bit < 8; bit++) {
      const pin = port * 8 + bit;
      const p = this.#pins[pin];
      if (!p) continue;
      const level = (value >> bit) & 1;
      if (p.mode === PIN_MODE.OUTPUT) this.#drive(pin, level as 0 | 1);
      // On an INPUT pin the bit switches the pull-up, which is the pin's state, not a level.
      else if (p.mode === PIN_MODE.INPUT) p.state = level;
    }
  }

  #drive(pin: number, level: 0 | 1): void {
    const p = this.#pins[pin]!;
    const before = this.pinValue(pin);
    p.state = level;
    this.#changed(pin, before);
  }

  #changed(pin: number, before: 0 | 1): void {
    const value = this.pinValue(pin);
    if (value === before) return;
    this.#opts.onPin?.(pin, value);
    this.emit('pin', pin, value);
    if (pin === this.buttonPin) {
      this.emit('button', value === 1);
      if (value === 1) this.#buttonDownAt = performance.now();
      else if (this.#buttonDownAt !== undefined) {
        const holdMs = performance.now() - this.#buttonDownAt;
        this.#buttonDownAt = undefined;
        this.#opts.onPress?.(holdMs);
        this.emit('press', holdMs);
      }
    }
    if (pin === this.powerPin) {
      const on = (value === 1) === this.powerActiveHigh;
      this.#opts.onPower?.(on);
      this.emit('power', on);
    }
  }

  #send(bytes: number[]): void {
    const buf = Buffer.from(bytes);
    this.emit('tx', buf);
    this.#stream?.write(buf);
  }
}
