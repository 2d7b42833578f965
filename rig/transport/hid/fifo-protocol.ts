import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import type { Socket } from 'node:net';
import { ConfigError, TransportError } from '../../errors.ts';

/**
 * The wire format of HID over two named pipes, as google/u2f-ref-code u2f-tests/HID/dev.cc
 * speaks it to a device shim (a firmware simulator standing in for hidapi). Every message
 * from the host is a header of two little-endian uint32 (cmd, len) and len bytes; the
 * device answers only POLL, with POLL and either 64 bytes or none.
 */
export const FIFO_CMD = {
  /** `len` 4: uint32 LE mode; QUIT_MODE resets and quits. */
  MODE: 2,
  /** `len` 64: one HID output report, no report ID (dev.cc k64ByteWrite). */
  WRITE: 4,
  /** `len` 0 from the host; the answer has `len` 64 (an input report) or 0 (k64ByteRead). */
  POLL: 5,
  /** `len` 4: uint32 LE interrupt number; TOUCH_INTERRUPT is the button (kRaiseInterrupt). */
  INTERRUPT: 6,
} as const;

/** The interrupt dev.cc raises for DEV_touch: one per user presence the test needs. */
export const TOUCH_INTERRUPT = 199;
export const QUIT_MODE = 3;

export const FIFO_HEADER_SIZE = 8;
/**
 * The longest payload a decoder accepts. Real messages carry at most 64 bytes, so a larger
 * length means the reader has lost its place in the stream, not that a big message comes.
 */
export const FIFO_MAX_PAYLOAD = 65536;

export interface FifoMessage {
  cmd: number;
  payload: Uint8Array;
}

/** One message, header and payload in one buffer, so it goes to the pipe in one write. */
export function encodeFifoMessage(cmd: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(FIFO_HEADER_SIZE + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, cmd >>> 0, true);
  view.setUint32(4, payload.length, true);
  out.set(payload, FIFO_HEADER_SIZE);
  return out;
}

/** A 4-byte little-endian uint32 payload (INTERRUPT and MODE carry one). */
export function u32lePayload(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0, true);
  return out;
}

/**
 * Splits a byte stream into messages, whatever the chunking: a pipe read may end in the
 * middle of a header or a payload, or carry several messages at once. Payloads are copies.
 */
export class FifoDecoder {
  readonly maxPayload: number;
  #buffer: Uint8Array = new Uint8Array(0);

  constructor(opts: { maxPayload?: number } = {}) {
    this.maxPayload = opts.maxPayload ?? FIFO_MAX_PAYLOAD;
  }

  /** Bytes held back: the start of a message not yet complete. */
  get pending(): number {
    return this.#buffer.length;
  }

  /**
   * The messages `chunk` completes, in order. A header announcing more than `maxPayload`
   * bytes throws TransportError('FRAMING') and drops everything buffered: the stream is out
   * of step, so neither the rest of the chunk nor anything before it can be trusted.
   */
  push(chunk: Uint8Array): FifoMessage[] {
    let data = chunk;
    if (this.#buffer.length > 0) {
      data = new Uint8Array(this.#buffer.length + chunk.length);
      data.set(this.#buffer, 0);
      data.set(chunk, this.#buffer.length);
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const messages: FifoMessage[] = [];
    let at = 0;
    while (data.length - at >= FIFO_HEADER_SIZE) {
      const cmd = view.getUint32(at, true);
      const len = view.getUint32(at + 4, true);
      if (len > this.maxPayload) {
        this.reset();
        throw new TransportError(
          'FRAMING',
          `FIFO message header (cmd ${cmd}) announces ${len} bytes, more than ${this.maxPayload}: the byte stream is out of step`,
        );
      }
      if (data.length - at - FIFO_HEADER_SIZE < len) break;
      const start = at + FIFO_HEADER_SIZE;
      messages.push({ cmd, payload: data.slice(start, start + len) });
      at = start + len;
    }
    this.#buffer = at === data.length ? new Uint8Array(0) : data.slice(at);
    return messages;
  }

  /** Forgets a partial message (a new host, or a stream known to be out of step). */
  reset(): void {
    this.#buffer = new Uint8Array(0);
  }
}

/** Where a device at `path` listens and answers: plain concatenation, as dev.cc does. */
export function fifoPaths(path: string): { toDevice: string; fromDevice: string } {
  return { toDevice: `${path}in`, fromDevice: `${path}out` };
}

/**
 * Creates both FIFOs of the device at `path` where absent (mode 600: only this user may
 * talk to the device) and returns the ones it created, so only those are removed later.
 * Node has no mkfifo, hence coreutils'. A path that exists and is no FIFO is a ConfigError.
 */
export function makeFifos(path: string): string[] {
  const created: string[] = [];
  const { toDevice, fromDevice } = fifoPaths(path);
  for (const fifo of [toDevice, fromDevice]) {
    const kind = fileKind(fifo);
    if (kind === 'fifo') continue;
    if (kind !== 'absent') {
      throw new ConfigError(`--fifo ${path}: ${fifo} exists and is not a FIFO (it is a ${kind})`);
    }
    try {
      execFileSync('mkfifo', ['-m', '600', fifo], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (error) {
      const why =
        (error as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'the mkfifo command (coreutils) is not installed'
          : String((error as { stderr?: Buffer }).stderr ?? (error as Error).message).trim();
      throw new ConfigError(`--fifo ${path}: cannot create the FIFO ${fifo}: ${why}`, { cause: error });
    }
    created.push(fifo);
  }
  return created;
}

/** What is at `path` (a symlink is followed; 'absent' when nothing is). */
export function fileKind(path: string): 'absent' | 'fifo' | 'file' | 'directory' | 'special file' {
  try {
    const stat = statSync(path);
    if (stat.isFIFO()) return 'fifo';
    if (stat.isFile()) return 'file';
    if (stat.isDirectory()) return 'directory';
    return 'special file';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw error;
  }
}

/** Destroys a FIFO's socket (closing its fd) and resolves once it has closed. */
export function destroySocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) return resolve();
    socket.once('close', () => resolve());
    socket.destroy();
  });
}
