import { closeSync, constants, openSync, readSync } from 'node:fs';
import { Socket } from 'node:net';
import { ConfigError, TransportError } from '../../errors.ts';
import { HID_REPORT_SIZE, type HidConnection, type HidDeviceInfo } from './connection.ts';
import {
  destroySocket,
  encodeFifoMessage,
  FIFO_CMD,
  FifoDecoder,
  type FifoMessage,
  fifoPaths,
  fileKind,
  TOUCH_INTERRUPT,
  u32lePayload,
} from './fifo-protocol.ts';

export interface FifoHidOptions {
  /** Pause between a poll answered "no report" and the next poll; default 1 ms. */
  pollMs?: number;
  /** How long one poll may go unanswered before the device counts as hung; default 2000 ms. */
  answerTimeoutMs?: number;
  /**
   * How long open() waits for a device to hold its ends of both FIFOs (it may open them in
   * either order, blocking, as it starts); default 3000 ms. Past it, nothing serves the path.
   */
  connectTimeoutMs?: number;
}

/** Between two attempts to find the device's ends of the FIFOs while open() waits. */
const CONNECT_RETRY_MS = 10;

const POLL_MESSAGE = encodeFifoMessage(FIFO_CMD.POLL);
const TOUCH_MESSAGE = encodeFifoMessage(FIFO_CMD.INTERRUPT, u32lePayload(TOUCH_INTERRUPT));
const now = () => performance.now();

/**
 * Opens the device at `path` (whose FIFOs are `path + 'in'` and `path + 'out'`, as in
 * dev.cc), waiting up to `connectTimeoutMs` for the device to hold its ends of both.
 */
export function openFifoHid(path: string, opts: FifoHidOptions = {}): Promise<FifoHidConnection> {
  return FifoHidConnection.open(path, opts);
}

/** The button of a FIFO device as a TouchActuator (rig/instruments/touch-actuator.ts). */
export function fifoTouch(connection: FifoHidConnection): {
  readonly name: string;
  press(holdMs?: number): Promise<void>;
} {
  // One INTERRUPT 199 is one press whatever the hold: the shim's touch toggle has no duration.
  return { name: 'fifo touch (cmd 6)', press: () => connection.touch() };
}

interface AnswerWaiter {
  resolve: (answer: FifoMessage) => void;
  reject: (error: unknown) => void;
}

/**
 * The host side of the u2f-ref-code FIFO protocol (dev.cc) as a HidConnection: a device
 * shim or `chiprig emulate --fifo` at the far end. There are no interrupt-IN transfers, so
 * `read` polls: one POLL in flight at a time, a short pause after each "no report", and
 * each answer due within answerTimeoutMs (a shim that stops answering is a TIMEOUT, not an
 * endless wait). Writes, polls and touches take turns on the pipe, each message in one
 * write, so their bytes never interleave.
 *
 * Both fds are non-blocking and wrapped in net.Socket (libuv polls them; no threadpool
 * thread waits). EOF on PATHout or EPIPE on PATHin means the device side closed: pending
 * and later calls reject DISCONNECTED.
 */
export class FifoHidConnection implements HidConnection {
  readonly info: HidDeviceInfo;
  /** The device path as given (the FIFOs are `path + 'in'` and `path + 'out'`). */
  readonly path: string;
  readonly paths: { toDevice: string; fromDevice: string };
  readonly pollMs: number;
  readonly answerTimeoutMs: number;
  readonly #writer: Socket;
  readonly #reader: Socket;
  readonly #decoder = new FifoDecoder();
  /** Why calls now reject (device gone, closed, stream out of step); undefined while usable. */
  #gone: TransportError | undefined;
  #released: Promise<void> | undefined;
  /** The end of the chain every pipe operation waits its turn on. */
  #tail: Promise<unknown> = Promise.resolve();
  /** A poll was sent and its answer has not arrived (it may have timed out meanwhile). */
  #owed = false;
  /** An answer that came while no poll waited for it (late, or ahead of the waiter). */
  #ready: FifoMessage | undefined;
  #waiter: AnswerWaiter | undefined;
  readonly #sleepers = new Set<() => void>();

  private constructor(
    path: string,
    paths: { toDevice: string; fromDevice: string },
    opts: Required<FifoHidOptions>,
    writer: Socket,
    reader: Socket,
  ) {
    this.info = { path: `fifo:${path}`, vendorId: 0, productId: 0, product: 'u2f-ref-code FIFO device' };
    this.path = path;
    this.paths = paths;
    this.pollMs = opts.pollMs;
    this.answerTimeoutMs = opts.answerTimeoutMs;
    this.#writer = writer;
    this.#reader = reader;
    reader.on('data', (chunk: Buffer) => this.#onData(chunk));
    reader.on('end', () =>
      this.#fail(this.#disconnected(`${paths.fromDevice} reached end of file: the device side closed it`)),
    );
    reader.on('error', (error) => this.#fail(this.#pipeError(paths.fromDevice, error)));
    writer.on('error', (error) => this.#fail(this.#pipeError(paths.toDevice, error)));
  }

  static async open(path: string, opts: FifoHidOptions = {}): Promise<FifoHidConnection> {
    if (typeof path !== 'string' || path === '') throw new TypeError('path: must be a FIFO device path');
    const pollMs = opts.pollMs ?? 1;
    const answerTimeoutMs = opts.answerTimeoutMs ?? 2000;
    if (!(pollMs > 0)) throw new RangeError(`opts.pollMs: must be > 0 (no busy polling): ${pollMs}`);
    if (!(answerTimeoutMs > 0)) throw new RangeError(`opts.answerTimeoutMs: must be > 0: ${answerTimeoutMs}`);
    const paths = fifoPaths(path);
    const start = `start \`chiprig emulate --transport hid --fifo ${path}\` or the device's shim`;
    for (const fifo of [paths.toDevice, paths.fromDevice]) {
      const kind = fileKind(fifo);
      if (kind === 'absent') {
        throw new TransportError('NOT_FOUND', `no FIFO device at ${path}: ${fifo} does not exist; ${start}`);
      }
      if (kind !== 'fifo') throw new ConfigError(`FIFO device ${path}: ${fifo} is a ${kind}, not a FIFO`);
    }
    const connectTimeoutMs = opts.connectTimeoutMs ?? 3000;
    if (!(connectTimeoutMs >= 0)) {
      throw new RangeError(`opts.connectTimeoutMs: must be >= 0: ${connectTimeoutMs}`);
    }
    const waited = `within ${connectTimeoutMs} ms`;
    const notServed = (why: string) =>
      new TransportError(
        'NOT_FOUND',
        `nothing serves the FIFO device at ${path} (${why}); ${start} (a device opens ${paths.fromDevice} for writing and ${paths.toDevice} for reading, in either order)`,
      );
    const deadline = now() + connectTimeoutMs;
    // PATHout first, for reading: with O_NONBLOCK this never waits, and a device that opens
    // PATHout for writing first (blocking, as dev.cc's host requires: the host opens PATHout
    // before PATHin) can then go on to PATHin. A device that opens PATHin first is waiting
    // there as a reader already; one that opens both read-write waits for nobody.
    const fromDevice = openFifo(paths.fromDevice, constants.O_RDONLY);
    let toDevice: number | undefined;
    try {
      // PATHin for writing: ENXIO while no reader holds it, so retry until the device opens it.
      for (;;) {
        toDevice = tryOpenFifo(paths.toDevice, constants.O_WRONLY);
        if (toDevice !== undefined) break;
        if (now() >= deadline) throw notServed(`nothing opened ${paths.toDevice} for reading ${waited}`);
        await delay(CONNECT_RETRY_MS);
      }
      // Until the device holds PATHout for writing, a read there is EOF. The pipe outlives
      // its hosts: an answer a previous host left unread would otherwise be taken for the
      // answer to our first poll, so whatever is already there is dropped.
      while (discardStale(fromDevice) === 'eof') {
        if (now() >= deadline) throw notServed(`nothing opened ${paths.fromDevice} for writing ${waited}`);
        await delay(CONNECT_RETRY_MS);
      }
    } catch (error) {
      closeSync(fromDevice);
      if (toDevice !== undefined) closeSync(toDevice);
      throw error;
    }
    const writer = new Socket({ fd: toDevice, readable: false, writable: true });
    const reader = new Socket({ fd: fromDevice, readable: true, writable: false });
    return new FifoHidConnection(path, paths, { pollMs, answerTimeoutMs, connectTimeoutMs }, writer, reader);
  }

  write(report: Uint8Array): Promise<void> {
    if (this.#gone) return Promise.reject(this.#gone);
    if (!(report instanceof Uint8Array) || report.length !== HID_REPORT_SIZE) {
      return Promise.reject(
        new RangeError(`report: must be ${HID_REPORT_SIZE} bytes, got ${(report as Uint8Array)?.length}`),
      );
    }
    const message = encodeFifoMessage(FIFO_CMD.WRITE, report); // a copy: the caller may reuse its buffer
    return this.#exclusive(() => this.#send(message));
  }

  /** Polls until a report comes or `timeoutMs` passes; read(0) polls exactly once. */
  async read(timeoutMs: number): Promise<Uint8Array | undefined> {
    if (this.#gone) throw this.#gone;
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
      throw new RangeError(`timeoutMs: must be a number >= 0: ${timeoutMs}`);
    }
    const deadline = now() + timeoutMs;
    for (;;) {
      const report = await this.#exclusive(() => this.#poll());
      if (report !== undefined) return report;
      const left = deadline - now();
      if (left <= 0) return undefined;
      await this.#sleep(Math.min(this.pollMs, left));
    }
  }

  /** One press of the button: INTERRUPT 199, exactly what dev.cc's DEV_touch sends. */
  touch(): Promise<void> {
    if (this.#gone) return Promise.reject(this.#gone);
    return this.#exclusive(() => this.#send(TOUCH_MESSAGE));
  }

  close(): Promise<void> {
    this.#fail(this.#disconnected('closed'));
    return this.#released!;
  }

  /** Runs `operation` once every earlier one has finished, so messages go out whole and in order. */
  #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(operation);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** One poll: sends POLL unless an earlier one is still owed an answer, then takes the answer. */
  async #poll(): Promise<Uint8Array | undefined> {
    if (this.#gone) throw this.#gone;
    if (!this.#owed && this.#ready === undefined) {
      this.#owed = true;
      await this.#send(POLL_MESSAGE);
    }
    const answer = await this.#answer();
    return answer.payload.length === 0 ? undefined : answer.payload;
  }

  #answer(): Promise<FifoMessage> {
    const ready = this.#ready;
    if (ready !== undefined) {
      this.#ready = undefined;
      return Promise.resolve(ready);
    }
    if (this.#gone) return Promise.reject(this.#gone);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(
          new TransportError(
            'TIMEOUT',
            `FIFO device ${this.path}: no answer to a poll (cmd 5) within ${this.answerTimeoutMs} ms: the FIFO device stopped answering polls`,
          ),
        );
      }, this.answerTimeoutMs);
      this.#waiter = {
        resolve: (answer) => {
          clearTimeout(timer);
          resolve(answer);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  #send(message: Uint8Array): Promise<void> {
    if (this.#gone) return Promise.reject(this.#gone);
    return new Promise((resolve, reject) => {
      this.#writer.write(message, (error) => {
        if (!error) return resolve();
        this.#fail(this.#pipeError(this.paths.toDevice, error));
        reject(this.#gone);
      });
    });
  }

  #onData(chunk: Buffer): void {
    let messages: FifoMessage[];
    try {
      messages = this.#decoder.push(chunk);
    } catch (error) {
      this.#fail(error as TransportError);
      return;
    }
    for (const message of messages) {
      const { cmd, payload } = message;
      if (cmd !== FIFO_CMD.POLL || (payload.length !== 0 && payload.length !== HID_REPORT_SIZE)) {
        this.#fail(
          new TransportError(
            'FRAMING',
            `FIFO device ${this.path}: ${this.paths.fromDevice} carried cmd ${cmd} with ${payload.length} bytes; only poll answers (cmd 5, 0 or 64 bytes) are expected`,
          ),
        );
        return;
      }
      if (!this.#owed) continue; // an answer to a poll of an earlier host: not ours
      this.#owed = false;
      const waiter = this.#waiter;
      this.#waiter = undefined;
      if (waiter) waiter.resolve(message);
      else this.#ready = message;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }

  /** The first failure wins: later calls reject with it; both fds are closed. */
  #fail(error: TransportError): void {
    if (this.#gone) return;
    this.#gone = error;
    this.#ready = undefined;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(error);
    for (const wake of [...this.#sleepers]) wake(); // the next poll then rejects
    this.#released = Promise.all([destroySocket(this.#writer), destroySocket(this.#reader)]).then(
      () => undefined,
    );
  }

  #disconnected(why: string): TransportError {
    return new TransportError('DISCONNECTED', `FIFO device ${this.path}: ${why}`);
  }

  #pipeError(fifo: string, error: NodeJS.ErrnoException): TransportError {
    const why =
      error.code === 'EPIPE'
        ? `nothing reads ${fifo} any more (EPIPE): the device side closed it`
        : `${fifo}: ${error.message}`;
    return new TransportError('DISCONNECTED', `FIFO device ${this.path}: ${why}`, {
      cause: error,
    });
  }
}

/** Opens a FIFO non-blocking (for reading, that never waits for a writer). */
function openFifo(fifo: string, flags: number): number {
  try {
    return openSync(fifo, flags | constants.O_NONBLOCK);
  } catch (error) {
    throw new TransportError('UNAVAILABLE', `cannot open ${fifo}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Opens a FIFO non-blocking for writing; undefined while no reader holds it (ENXIO). */
function tryOpenFifo(fifo: string, flags: number): number | undefined {
  try {
    return openSync(fifo, flags | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENXIO') return undefined;
    throw new TransportError('UNAVAILABLE', `cannot open ${fifo}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Reads and drops what is already in the FIFO. On a non-blocking FIFO read() gives EAGAIN
 * when it is empty and a writer holds it, and 0 (EOF) when no writer holds it at all.
 */
function discardStale(fd: number): 'empty' | 'eof' {
  const scratch = Buffer.alloc(4096);
  for (;;) {
    try {
      if (readSync(fd, scratch, 0, scratch.length, null) === 0) return 'eof';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return 'empty';
      throw new TransportError('UNAVAILABLE', `cannot read the FIFO: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
}
