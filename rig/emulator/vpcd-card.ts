import { connect, type Socket } from 'node:net';
import { toBytes } from '../bytes.ts';
import { TransportError } from '../errors.ts';
import type { TrafficLog } from '../traffic.ts';
import type { VirtualCard } from '../transport/nfc/connection.ts';
import { MAX_VPCD_PAYLOAD, VpcdFrameReader, vpcdFrame } from './vpcd-frames.ts';

/**
 * Serves a VirtualCard to pcscd through vsmartcard's vpcd driver, so real PC/SC clients
 * (nfc-pcsc, python-fido2, pcsc_scan) see it in reader "Virtual PCD 00 00".
 *
 * vpcd's shipped /etc/reader.conf.d/vpcd runs in server mode: the driver listens and the
 * card connects to it. Connecting = card tapped, closing = card removed. Reverse mode crashes
 * pcscd on removal (emulation.md, NFC), so it is not offered.
 *
 * Protocol ("vicc"): every message both ways is a uint16 big-endian length + payload. A
 * 1-byte payload is a control byte; only GET ATR is answered. Anything longer is a C-APDU,
 * answered with exactly one frame holding data + SW.
 */
export const VPCD_CONTROL = {
  POWER_OFF: 0x00,
  POWER_ON: 0x01,
  RESET: 0x02,
  GET_ATR: 0x04,
} as const;

export interface ServeVpcdOptions {
  host?: string;
  /** 35963 is reader "Virtual PCD 00 00", 35964 is "Virtual PCD 00 01". */
  port?: number;
  /** How long to keep retrying the connection while pcscd is still starting. */
  connectTimeoutMs?: number;
  log?: TrafficLog;
  /** Field and link events ('power-on', 'power-off', 'reset', 'get-atr', 'removed', ...), for tests. */
  onEvent?: (event: string) => void;
}

export interface VpcdServer {
  /** Takes the card out of the field (closes the socket). Idempotent. */
  close(): Promise<void>;
  /** Settles when the link is gone, whichever side closed it. */
  readonly closed: Promise<void>;
}

const RETRY_MS = 100;
/** A control frame is distinguished from an APDU only by its length (vicc protocol). */
const CONTROL_LENGTH = 1;

export async function serveVpcd(card: VirtualCard, opts: ServeVpcdOptions = {}): Promise<VpcdServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 35963;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new RangeError(`port: not a TCP port: ${port}`);
  const socket = await connectWithRetry(host, port, connectTimeoutMs);
  // Our half of the Nagle fix: each answer leaves in one segment without waiting for an ACK.
  socket.setNoDelay(true);
  opts.onEvent?.('connected');
  return new VpcdLink(socket, card, opts);
}

async function connectWithRetry(host: string, port: number, timeoutMs: number): Promise<Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await connectOnce(host, port, Math.max(1, deadline - Date.now()));
    } catch (error) {
      // pcscd may still be starting (it opens the vpcd port ~0.2 s after launch): retry.
      if (Date.now() + RETRY_MS >= deadline) {
        throw new TransportError(
          'UNAVAILABLE',
          `cannot reach the vpcd reader at ${host}:${port} (${(error as Error).message}): ` +
            'install vsmartcard-vpcd and start pcscd (pcscd -f -i, or scripts/pcscd-start.sh)',
          { cause: error },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }
}

function connectOnce(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });
}

class VpcdLink implements VpcdServer {
  readonly closed: Promise<void>;
  readonly #socket: Socket;
  readonly #card: VirtualCard;
  readonly #opts: ServeVpcdOptions;
  readonly #frames = new VpcdFrameReader();

  constructor(socket: Socket, card: VirtualCard, opts: ServeVpcdOptions) {
    this.#socket = socket;
    this.#card = card;
    this.#opts = opts;
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        opts.log?.note('vpcd', 'card removed (link closed)');
        opts.onEvent?.('removed');
        resolve();
      });
    });
    // A reset by pcscd (it stopped, or the reader slot was reconfigured) is a removal, not a crash.
    socket.on('error', (error) => opts.onEvent?.(`error: ${error.message}`));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  async close(): Promise<void> {
    if (!this.#socket.destroyed) this.#socket.destroy();
    await this.closed;
  }

  #onData(chunk: Buffer): void {
    for (const payload of this.#frames.push(toBytes(chunk))) {
      if (this.#socket.destroyed) return;
      if (payload.length === CONTROL_LENGTH) this.#onControl(payload[0]!);
      else if (payload.length > 0) this.#onApdu(payload);
    }
  }

  #onControl(control: number): void {
    const { log, onEvent } = this.#opts;
    switch (control) {
      case VPCD_CONTROL.POWER_OFF:
        log?.note('vpcd', 'field off (power off)');
        onEvent?.('power-off');
        this.#card.powerOff();
        return;
      case VPCD_CONTROL.POWER_ON:
        log?.note('vpcd', 'field on (power on)');
        onEvent?.('power-on');
        this.#card.powerOn();
        return;
      case VPCD_CONTROL.RESET:
        log?.note('vpcd', 'warm reset');
        onEvent?.('reset');
        this.#card.reset();
        return;
      case VPCD_CONTROL.GET_ATR:
        // Not logged: pcscd polls it about every 400 ms and would drown the test's traffic.
        onEvent?.('get-atr');
        this.#send(this.#card.atr);
        return;
      default:
        log?.note('vpcd', `unknown control byte 0x${control.toString(16).padStart(2, '0')} ignored`);
        onEvent?.(`unknown-control-${control}`);
    }
  }

  #onApdu(apdu: Uint8Array): void {
    const { log, onEvent } = this.#opts;
    log?.record('recv', 'vpcd', apdu, 'C-APDU');
    onEvent?.('apdu');
    let response: Uint8Array;
    try {
      response = this.#card.process(apdu);
    } catch (error) {
      // The contract says process never throws; if it does, answer 6F00 (no precise diagnosis)
      // rather than leave pcscd waiting for a frame until its own timeout.
      log?.note('vpcd', `card threw: ${(error as Error).message}; answered 6F00`);
      response = Uint8Array.of(0x6f, 0x00);
    }
    // A mute card (crashed, looping) sends nothing: pcscd's transmit times out.
    if (response.length === 0) {
      log?.note('vpcd', 'the card is mute: no R-APDU');
      return;
    }
    log?.record('send', 'vpcd', response, 'R-APDU');
    this.#send(response);
  }

  #send(payload: Uint8Array): void {
    if (payload.length > MAX_VPCD_PAYLOAD) {
      // Throwing here would be an uncaught exception in a socket handler; 6F00 keeps pcscd going.
      this.#opts.log?.note('vpcd', `answer of ${payload.length} bytes exceeds a vpcd frame; sent 6F00`);
      payload = Uint8Array.of(0x6f, 0x00);
    }
    // The card may have been removed while it computed the answer (a test closing the link).
    if (this.#socket.destroyed) return;
    // Length and payload in ONE write: two writes are two segments and meet the peer's delayed ACK.
    this.#socket.write(vpcdFrame(payload));
  }
}
