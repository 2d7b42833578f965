import { closeSync, constants, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { HID_REPORT_SIZE, type HidConnection } from '../../transport/hid/connection.ts';
import {
  destroySocket,
  encodeFifoMessage,
  FIFO_CMD,
  FifoDecoder,
  type FifoMessage,
  fifoPaths,
  makeFifos,
  QUIT_MODE,
  TOUCH_INTERRUPT,
} from '../../transport/hid/fifo-protocol.ts';

export interface FifoServerOptions {
  /** The device path: the host writes to `path + 'in'` and reads `path + 'out'`. */
  path: string;
  /** One button press per INTERRUPT 199 (dev.cc sends one per presence it needs). */
  press: () => void;
  /** The host sent MODE 3 (reset and quit); the server has stopped. */
  onQuit?: () => void;
  /** A line for the operator: a skipped message, a device error, why serving ended. */
  onEvent?: (text: string) => void;
}

export interface FifoServer {
  readonly paths: { toDevice: string; fromDevice: string };
  /** Stops serving, closes both FIFOs and removes the ones this server created. Idempotent. */
  close(): Promise<void>;
  /** Settles when serving ends: 'quit' on the host's MODE 3, 'closed' on close() or a pipe error. */
  readonly closed: Promise<'quit' | 'closed'>;
}

/** Messages read but not yet handled beyond which the server stops reading the pipe for a while. */
const HIGH_WATER = 256;
const NO_REPORT = encodeFifoMessage(FIFO_CMD.POLL);

/**
 * Serves a HidConnection (the emulated chip's) to a host speaking the u2f-ref-code FIFO
 * protocol (dev.cc), such as the reference HIDTest and U2FTest built against a path ending
 * in '-'.
 *
 * Both FIFOs are opened O_RDWR | O_NONBLOCK (Linux semantics): neither open waits for a
 * host, and because the server itself holds a writer of PATHin and a reader of PATHout,
 * a host closing and reopening its ends gives no EOF here and no EPIPE there, so one server
 * outlives many host runs. The fds are wrapped in net.Socket, which libuv polls with epoll;
 * an fs stream would instead park a threadpool thread in a blocking read for as long as the
 * FIFO stays idle.
 */
export async function serveFifoHid(device: HidConnection, opts: FifoServerOptions): Promise<FifoServer> {
  if (typeof opts?.path !== 'string' || opts.path === '') throw new TypeError('opts.path: must be a path');
  if (typeof opts.press !== 'function') throw new TypeError('opts.press: must be a function');
  const paths = fifoPaths(opts.path);
  const created = makeFifos(opts.path);
  if (hasReader(paths.toDevice)) {
    opts.onEvent?.(
      `FIFO ${opts.path}: something already reads ${paths.toDevice} (another server, or a host still attached to an old one): the host's messages will be split between us`,
    );
  }
  const fds: number[] = [];
  try {
    for (const fifo of [paths.toDevice, paths.fromDevice]) {
      fds.push(openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK));
    }
  } catch (error) {
    for (const fd of fds) closeSync(fd);
    removeAll(created);
    throw error;
  }
  // readable: false matters on the O_RDWR PATHout: a reading socket would eat our own answers.
  const input = new Socket({ fd: fds[0]!, readable: true, writable: false });
  const output = new Socket({ fd: fds[1]!, readable: false, writable: true });
  return new FifoHidServer(device, opts, paths, created, input, output);
}

class FifoHidServer implements FifoServer {
  readonly paths: { toDevice: string; fromDevice: string };
  readonly closed: Promise<'quit' | 'closed'>;
  readonly #device: HidConnection;
  readonly #opts: FifoServerOptions;
  readonly #created: string[];
  readonly #input: Socket;
  readonly #output: Socket;
  readonly #decoder = new FifoDecoder();
  readonly #queue: FifoMessage[] = [];
  #working = false;
  #serving = true;
  #settle!: (how: 'quit' | 'closed') => void;
  #shutdown: Promise<void> | undefined;
  /** The last device error reported, so a host polling every 100 us is not one line per poll. */
  #lastDeviceError: string | undefined;

  constructor(
    device: HidConnection,
    opts: FifoServerOptions,
    paths: { toDevice: string; fromDevice: string },
    created: string[],
    input: Socket,
    output: Socket,
  ) {
    this.#device = device;
    this.#opts = opts;
    this.paths = paths;
    this.#created = created;
    this.#input = input;
    this.#output = output;
    this.closed = new Promise((resolve) => {
      this.#settle = resolve;
    });
    input.on('data', (chunk: Buffer) => this.#onData(chunk));
    // Cannot happen while we hold a writer of PATHin ourselves; if it does, nobody can write.
    input.on('end', () => this.#fail(`${paths.toDevice} reached end of file`));
    input.on('error', (error) => this.#fail(`reading ${paths.toDevice}: ${error.message}`));
    output.on('error', (error) => this.#fail(`writing ${paths.fromDevice}: ${error.message}`));
  }

  close(): Promise<void> {
    return this.#stop('closed');
  }

  #onData(chunk: Buffer): void {
    if (!this.#serving) return;
    try {
      for (const message of this.#decoder.push(chunk)) this.#queue.push(message);
    } catch (error) {
      // Whatever follows is misaligned until the host starts afresh; keep serving for the next one.
      this.#event(`${(error as Error).message}; dropped the bytes buffered so far`);
    }
    if (this.#queue.length > HIGH_WATER) this.#input.pause();
    if (!this.#working) void this.#drain();
  }

  /** Handles messages one at a time, strictly in order: a poll sees the answer to the write before it. */
  async #drain(): Promise<void> {
    this.#working = true;
    try {
      while (this.#serving && this.#queue.length > 0) {
        await this.#handle(this.#queue.shift()!);
        if (this.#queue.length === 0 && this.#input.isPaused()) this.#input.resume();
      }
    } finally {
      this.#working = false;
    }
  }

  async #handle({ cmd, payload }: FifoMessage): Promise<void> {
    switch (cmd) {
      case FIFO_CMD.WRITE:
        if (payload.length !== HID_REPORT_SIZE) return this.#skip(cmd, payload, 'a report is 64 bytes');
        try {
          await this.#device.write(payload);
          this.#lastDeviceError = undefined;
        } catch (error) {
          this.#deviceError('write', error);
        }
        return;
      case FIFO_CMD.POLL: {
        if (payload.length !== 0) return this.#skip(cmd, payload, 'a poll carries no bytes');
        let report: Uint8Array | undefined;
        try {
          const device = this.#device;
          report = device.readQueued ? device.readQueued() : await device.read(0);
        } catch (error) {
          this.#deviceError('read', error);
        }
        if (report !== undefined && report.length !== HID_REPORT_SIZE) {
          this.#event(`the device gave a ${report.length}-byte input report; answered the poll with none`);
          report = undefined;
        }
        if (this.#serving) this.#output.write(report ? encodeFifoMessage(FIFO_CMD.POLL, report) : NO_REPORT);
        return;
      }
      case FIFO_CMD.INTERRUPT: {
        if (payload.length !== 4) return this.#skip(cmd, payload, 'an interrupt number is 4 bytes');
        const number = u32le(payload);
        if (number !== TOUCH_INTERRUPT) {
          return this.#event(`ignored interrupt ${number} (cmd 6): only ${TOUCH_INTERRUPT}, touch, is wired`);
        }
        try {
          this.#opts.press();
        } catch (error) {
          this.#event(`pressing the button failed: ${(error as Error).message}`);
        }
        return;
      }
      case FIFO_CMD.MODE: {
        if (payload.length !== 4) return this.#skip(cmd, payload, 'a mode is 4 bytes');
        const mode = u32le(payload);
        if (mode !== QUIT_MODE)
          return this.#event(`ignored mode ${mode} (cmd 2): only ${QUIT_MODE}, quit, is known`);
        this.#event('the host sent mode 3 (reset and quit): stopped serving');
        return this.#stop('quit');
      }
      default:
        return this.#skip(cmd, payload, 'unknown command');
    }
  }

  #skip(cmd: number, payload: Uint8Array, why: string): void {
    this.#event(`skipped cmd ${cmd} with ${payload.length} bytes: ${why}`);
  }

  #deviceError(what: string, error: unknown): void {
    const text = `device ${what} failed: ${(error as Error)?.message ?? String(error)}`;
    if (text !== this.#lastDeviceError) this.#event(text);
    this.#lastDeviceError = text;
  }

  #event(text: string): void {
    this.#opts.onEvent?.(`FIFO ${this.#opts.path}: ${text}`);
  }

  #fail(why: string): void {
    if (!this.#serving) return;
    this.#event(`${why}: stopped serving`);
    void this.#stop('closed');
  }

  /**
   * Ends serving once: closes both fds, removes the FIFOs we made, then tells onQuit and
   * settles `closed`, so whoever waits on it finds the files already gone.
   */
  #stop(how: 'quit' | 'closed'): Promise<void> {
    if (this.#shutdown) return this.#shutdown;
    this.#serving = false;
    this.#queue.length = 0;
    this.#shutdown = Promise.all([destroySocket(this.#input), destroySocket(this.#output)]).then(() => {
      removeAll(this.#created);
      try {
        if (how === 'quit') this.#opts.onQuit?.();
      } catch (error) {
        this.#event(`onQuit threw: ${(error as Error).message}`);
      }
      this.#settle(how);
    });
    return this.#shutdown;
  }
}

function u32le(payload: Uint8Array): number {
  return new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0, true);
}

/** Whether a process holds `fifo` open for reading: a non-blocking write-only open succeeds only then. */
function hasReader(fifo: string): boolean {
  try {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    return true;
  } catch {
    return false; // ENXIO: no reader
  }
}

function removeAll(files: readonly string[]): void {
  for (const file of files) rmSync(file, { force: true });
}
