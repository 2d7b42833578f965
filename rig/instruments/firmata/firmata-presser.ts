/**
 * A lab's button presser and power switch: an Arduino running the stock StandardFirmata
 * sketch, with a solenoid over the chip's button on one digital pin and a relay in the chip's
 * USB power line on another. Spoken to with firmata-io over serialport.
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { SerialPort } from 'serialport';
import { InstrumentError } from '../../errors.ts';
import type { PowerSwitch } from '../roles.ts';
import { openSerialPort } from '../serial.ts';
import type { TouchActuator } from '../touch-actuator.ts';

/** The part of firmata-io's Board this driver uses (the package ships no types). */
interface FirmataBoard {
  readonly MODES: { readonly INPUT: number; readonly OUTPUT: number };
  readonly pins: ReadonlyArray<{ supportedModes: number[] }>;
  readonly firmware: { name?: string; version?: { major: number; minor: number } };
  readonly version: { major?: number; minor?: number };
  readonly versionReceived: boolean;
  readonly isReady: boolean;
  /** Writes handed to the transport whose callbacks have not run yet. */
  readonly pending: number;
  readonly reportVersionTimeoutId?: ReturnType<typeof setTimeout>;
  pinMode(pin: number, mode: number): void;
  digitalWrite(pin: number, value: 0 | 1): void;
  on(event: 'error' | 'close' | 'disconnect', listener: (error?: Error) => void): unknown;
}

interface FirmataSettings {
  /** firmata-io queries version and firmware only if the board has not announced itself by then. */
  reportVersionTimeout: number;
}

type FirmataClass = new (
  transport: Duplex,
  settings: FirmataSettings,
  callback: (error?: Error) => void,
) => FirmataBoard;

// firmata-io is CommonJS; its export is a transport-binding function carrying the Board class
// as `.Firmata`. Given a transport instance (not a path) the class opens nothing itself.
const { Firmata } = createRequire(import.meta.url)('firmata-io') as { Firmata: FirmataClass };

/** A stream the driver can wait on until written bytes have left the host. */
type Transport = Duplex & { drain?: (callback: (error?: Error | null) => void) => void };

export interface FirmataPresserOptions {
  /** Serial port path (also names the instrument in errors when `stream` is given). */
  port: string;
  baudRate?: number;
  /** Digital pin driving the solenoid (HIGH = pressed). */
  buttonPin: number;
  /** Digital pin driving the power relay; without it `setPower` rejects. */
  powerPin?: number;
  /** True (default) when a HIGH power pin powers the chip. */
  powerActiveHigh?: boolean;
  /**
   * Power level driven at open (default true). StandardFirmata drives every digital pin LOW
   * when it boots, and opening the port resets an Uno, so the relay needs setting either way.
   */
  initialPower?: boolean;
  /** Whole start-up budget: version, firmware, capabilities and analog mapping (default 10000). */
  readyTimeoutMs?: number;
  /**
   * How long to wait for the board to announce itself before asking (default 0). Asking at
   * once costs nothing on a board that resets on open (the sketch announces itself after its
   * boot anyway) and spares a board that does not reset firmata-io's 5 s default.
   */
  versionQueryDelayMs?: number;
  /** Budget for each write to leave the host (default 2000). */
  writeTimeoutMs?: number;
  /** An already-open stream (tests, or a port opened elsewhere); the caller keeps closing it. */
  stream?: Duplex;
  name?: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Rejects with `error()` unless `promise` settles within `ms`; clears its timer either way. */
async function within<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(error()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function checkPin(what: string, pin: number | undefined): void {
  if (pin === undefined) return;
  if (!Number.isInteger(pin) || pin < 0 || pin > 127) {
    throw new InstrumentError('CONFIG', `Firmata ${what} must be a pin number 0-127, got ${pin}`);
  }
}

export class FirmataPresser implements TouchActuator, PowerSwitch {
  readonly name: string;
  readonly port: string;
  readonly buttonPin: number;
  readonly powerPin: number | undefined;
  readonly powerActiveHigh: boolean;
  /** How long the last press held the button, ms: from the HIGH message leaving the host to the LOW one. */
  lastPressMs: number | undefined;

  readonly #board: FirmataBoard;
  readonly #transport: Transport;
  readonly #ownsTransport: boolean;
  readonly #writeTimeoutMs: number;
  readonly #detach: () => void;
  #powered: boolean | undefined;
  /** Serialises press and setPower so two never interleave their pin writes. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Ends a press's hold early (on close). */
  #cancelHold: (() => void) | undefined;
  #gone: string | undefined;
  #closing: Promise<void> | undefined;

  private constructor(
    opts: FirmataPresserOptions,
    board: FirmataBoard,
    transport: Transport,
    owns: boolean,
    detach: () => void,
  ) {
    this.port = opts.port;
    this.name = opts.name ?? `firmata(${opts.port})`;
    this.buttonPin = opts.buttonPin;
    this.powerPin = opts.powerPin;
    this.powerActiveHigh = opts.powerActiveHigh ?? true;
    this.#board = board;
    this.#transport = transport;
    this.#ownsTransport = owns;
    this.#writeTimeoutMs = opts.writeTimeoutMs ?? 2000;
    this.#detach = detach;
    // Without a listener, an 'error' after start-up would be thrown by the EventEmitter.
    board.on('error', (error) => {
      this.#gone ??= `port error: ${error?.message ?? 'unknown'}`;
    });
    board.on('close', () => {
      this.#gone ??= 'the port closed (board unplugged or reset?)';
    });
    board.on('disconnect', () => {
      this.#gone ??= 'the board disconnected';
    });
  }

  /** Opens the port, waits for the board to be ready, and sets both pins to outputs. */
  static async open(opts: FirmataPresserOptions): Promise<FirmataPresser> {
    checkPin('buttonPin', opts.buttonPin);
    checkPin('powerPin', opts.powerPin);
    if (opts.powerPin === opts.buttonPin) {
      throw new InstrumentError('CONFIG', `Firmata buttonPin and powerPin are both ${opts.buttonPin}`);
    }
    const readyTimeoutMs = opts.readyTimeoutMs ?? 10_000;
    const owns = !opts.stream;
    const transport: Transport =
      opts.stream ??
      (await openSerialPort(
        opts.port,
        opts.baudRate ?? 57600,
        "the Firmata board's port",
        'check the path in the station file, that the Arduino is plugged in, and that no other program holds the port',
      ));

    // firmata-io adds anonymous listeners to the transport; note them so close can remove them.
    const events = ['data', 'open', 'close', 'error'] as const;
    const before = new Map(events.map((e) => [e, new Set(transport.listeners(e))]));
    let settle: (error?: Error) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      settle = (error) => (error ? reject(error) : resolve());
    });
    const board = new Firmata(transport, { reportVersionTimeout: opts.versionQueryDelayMs ?? 0 }, (error) =>
      settle(error),
    );
    const added = events.flatMap((e) =>
      transport
        .listeners(e)
        .filter((l) => !before.get(e)?.has(l))
        .map((l) => [e, l] as const),
    );
    const detach = () => {
      clearTimeout(board.reportVersionTimeoutId);
      for (const [e, l] of added) transport.off(e, l as (...args: unknown[]) => void);
    };
    const presser = new FirmataPresser(opts, board, transport, owns, detach);

    try {
      await within(
        ready.catch((error: Error) => {
          throw new InstrumentError(
            'UNAVAILABLE',
            `Firmata board on ${opts.port} failed during start-up: ${error.message}`,
            { cause: error },
          );
        }),
        readyTimeoutMs,
        () =>
          new InstrumentError(
            'TIMEOUT',
            `Firmata board on ${opts.port} not ready within ${readyTimeoutMs} ms (${startupStage(board)}); ` +
              'check that the Arduino runs StandardFirmata, that the baud rate matches the sketch ' +
              `(${opts.baudRate ?? 57600}), and that the port is the Arduino's`,
          ),
      );
      presser.#checkOutput('buttonPin', presser.buttonPin);
      if (presser.powerPin !== undefined) presser.#checkOutput('powerPin', presser.powerPin);

      board.pinMode(presser.buttonPin, board.MODES.OUTPUT);
      board.digitalWrite(presser.buttonPin, 0);
      if (presser.powerPin !== undefined) {
        const on = opts.initialPower ?? true;
        board.pinMode(presser.powerPin, board.MODES.OUTPUT);
        board.digitalWrite(presser.powerPin, presser.#level(on));
        presser.#powered = on;
      }
      await presser.#flush('configuring the pins');
    } catch (error) {
      await presser.close();
      throw error;
    }
    return presser;
  }

  /** Firmware name and version the board reported. */
  get firmware(): { name: string; major: number; minor: number } {
    const f = this.#board.firmware;
    return { name: f.name ?? '', major: f.version?.major ?? 0, minor: f.version?.minor ?? 0 };
  }

  /** The power level last driven (undefined without a power pin). */
  get powered(): boolean | undefined {
    return this.#powered;
  }

  /** Button pin HIGH, hold, LOW; resolves once the LOW has left the host. */
  press(holdMs = 100): Promise<void> {
    return this.#serial(async () => {
      if (!Number.isFinite(holdMs) || holdMs < 0) {
        throw new InstrumentError('CONFIG', `${this.name}: press holdMs must be >= 0, got ${holdMs}`);
      }
      this.#write(this.buttonPin, 1);
      await this.#flush('pressing the button');
      const down = performance.now();
      let cancelled = false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, holdMs);
        this.#cancelHold = () => {
          cancelled = true;
          clearTimeout(timer);
          resolve();
        };
      });
      this.#cancelHold = undefined;
      // Released even when cancelled: a solenoid left energised overheats.
      this.#write(this.buttonPin, 0);
      await this.#flush('releasing the button');
      this.lastPressMs = performance.now() - down;
      if (cancelled) {
        throw new InstrumentError('CANCELLED', `${this.name}: press cut short by close()`);
      }
    });
  }

  setPower(on: boolean): Promise<void> {
    return this.#serial(async () => {
      if (this.powerPin === undefined) {
        throw new InstrumentError('CONFIG', `${this.name}: no powerPin configured, cannot switch power`);
      }
      this.#write(this.powerPin, this.#level(on));
      await this.#flush(on ? 'switching power on' : 'switching power off');
      this.#powered = on;
    });
  }

  /**
   * Ends a press in progress (releasing the button), waits for queued writes, removes
   * firmata-io's listeners and timer, and closes the port if this driver opened it.
   * Pins keep their levels: the sketch holds them until the board resets. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#cancelHold?.();
      await within(this.#queue, this.#writeTimeoutMs * 2, () => new Error('queue stuck')).catch(() => {});
      this.#detach();
      const port = this.#transport as unknown as SerialPort;
      if (this.#ownsTransport && port.isOpen) {
        await new Promise<void>((resolve) => port.close(() => resolve()));
      }
    })();
    return this.#closing;
  }

  #serial(op: () => Promise<void>): Promise<void> {
    const run = async () => {
      if (this.#closing) throw new InstrumentError('CLOSED', `${this.name} is closed`);
      if (this.#gone) {
        throw new InstrumentError('UNAVAILABLE', `${this.name}: ${this.#gone}; reopen the instrument`);
      }
      await op();
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => {});
    return result;
  }

  #level(on: boolean): 0 | 1 {
    return on === this.powerActiveHigh ? 1 : 0;
  }

  #write(pin: number, value: 0 | 1): void {
    // firmata-io sends the pin's whole port (0x90|port LSB MSB) from its copy of the levels.
    this.#board.digitalWrite(pin, value);
  }

  #checkOutput(what: string, pin: number): void {
    const modes = this.#board.pins[pin]?.supportedModes;
    if (!modes?.includes(this.#board.MODES.OUTPUT)) {
      throw new InstrumentError(
        'UNSUPPORTED',
        `Firmata board on ${this.port} cannot drive ${what} ${pin} as an output ` +
          `(it has ${this.#board.pins.length} pins); fix the pin in the station file`,
      );
    }
  }

  /** Waits until everything written has left the host (tcdrain on a serial port). */
  async #flush(what: string): Promise<void> {
    const transport = this.#transport;
    const done =
      typeof transport.drain === 'function'
        ? new Promise<void>((resolve, reject) =>
            transport.drain?.((error) => (error ? reject(error) : resolve())),
          )
        : (async () => {
            // A plain stream has no drain: wait until firmata-io's write callbacks have run.
            while (this.#board.pending > 0) await sleep(1);
          })();
    await within(
      done.catch((error: Error) => {
        throw new InstrumentError('UNAVAILABLE', `${this.name}: write failed ${what}: ${error.message}`, {
          cause: error,
        });
      }),
      this.#writeTimeoutMs,
      () =>
        new InstrumentError(
          'TIMEOUT',
          `${this.name}: write not sent within ${this.#writeTimeoutMs} ms ${what}; check the USB cable and port ${this.port}`,
        ),
    );
  }
}

function startupStage(board: FirmataBoard): string {
  if (!board.versionReceived) return 'no version report received';
  if (!board.firmware.name) return 'version received, no firmware name';
  if (!board.pins.length) return `firmware ${board.firmware.name}, no capability response`;
  return `firmware ${board.firmware.name}, no analog mapping response`;
}
