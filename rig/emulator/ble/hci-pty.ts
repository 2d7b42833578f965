/**
 * Puts the emulated HCI controller behind a serial port: a TCP listener on 127.0.0.1 that
 * serves each connection with its own controller, and socat bridging a pty to it
 * (`socat pty,raw,echo=0,link=PATH tcp:127.0.0.1:PORT`), so a host opens PATH like a UART
 * HCI dongle (noble: withBindings('hci', { hciDriver: 'uart', bindParams: { uart: { port } } })).
 *
 * Order matters on the way down: stop the host (noble.stop()) before stop() here. If the pty
 * vanishes under noble, its UART driver starts a reconnection loop that polls
 * SerialPort.list() (udevadm) for ~10 s and never finds a pty (emulation.md, BLE).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { TransportError } from '../../errors.ts';
import { type HciController, type HciControllerOptions, serveHci } from './hci-controller.ts';
import type { VirtualPeripheral } from './peripheral.ts';

export interface HciTcpServer {
  readonly port: number;
  /** The controller of the newest connection, if any. */
  readonly controller: HciController | undefined;
  /** Closes the listener and every controller. Idempotent. */
  close(): Promise<void>;
}

export interface ListenHciOptions extends HciControllerOptions {
  /** Default 0: any free port. */
  port?: number;
}

/** Listens on 127.0.0.1 and serves `peripheral` to whoever connects (socat, a test). */
export async function listenHci(
  peripheral: VirtualPeripheral,
  opts: ListenHciOptions = {},
): Promise<HciTcpServer> {
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new RangeError(`port: not a TCP port: ${port}`);
  const controllers = new Set<HciController>();
  let newest: HciController | undefined;
  const server = createServer((socket: Socket) => {
    // Each H4 event leaves in its own segment at once: latency is what this rig measures.
    socket.setNoDelay(true);
    const controller = serveHci(peripheral, socket, opts);
    controllers.add(controller);
    newest = controller;
    void controller.closed.then(() => controllers.delete(controller));
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  let closing: Promise<void> | undefined;
  return {
    port: typeof address === 'object' && address ? address.port : port,
    get controller() {
      return newest;
    },
    close() {
      closing ??= (async () => {
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        await Promise.all([...controllers].map((c) => c.close()));
        await done;
      })();
      return closing;
    },
  };
}

export interface HciPtyOptions extends HciControllerOptions {
  /** Where socat puts the pty symlink, e.g. /tmp/chiprig-hci0. */
  path: string;
  /** How long to wait for the pty and socat's TCP connection; default 5000 ms. */
  timeoutMs?: number;
}

export interface HciPty {
  readonly path: string;
  readonly port: number;
  readonly controller: HciController | undefined;
  /** Kills socat, closes the listener and the controllers. Stop the host first. Idempotent. */
  stop(): Promise<void>;
}

/** True when the socat binary can be run. */
export function socatAvailable(): boolean {
  return !spawnSync('socat', ['-V'], { stdio: 'ignore' }).error;
}

export async function startHciPty(peripheral: VirtualPeripheral, opts: HciPtyOptions): Promise<HciPty> {
  if (typeof opts.path !== 'string' || opts.path === '')
    throw new RangeError('path: a file path is required');
  if (!socatAvailable())
    throw new TransportError('UNAVAILABLE', 'socat not found: install socat (apt-get install -y socat)');
  const tcp = await listenHci(peripheral, opts);
  const child = spawn('socat', [`pty,raw,echo=0,link=${opts.path}`, `tcp:127.0.0.1:${tcp.port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPty(opts.path, tcp, child, opts.timeoutMs ?? 5000, () => stderr);
  } catch (error) {
    child.kill('SIGTERM');
    await Promise.all([exited, tcp.close()]);
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    path: opts.path,
    port: tcp.port,
    get controller() {
      return tcp.controller;
    },
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await Promise.all([exited, tcp.close()]);
      })();
      return stopping;
    },
  };
}

async function waitForPty(
  path: string,
  tcp: HciTcpServer,
  child: ChildProcess,
  timeoutMs: number,
  stderr: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(existsSync(path) && tcp.controller)) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new TransportError(
        'UNAVAILABLE',
        `socat exited (${child.exitCode ?? child.signalCode}): ${stderr().trim()}`,
      );
    if (Date.now() > deadline)
      throw new TransportError(
        'TIMEOUT',
        `socat: no pty at ${path} within ${timeoutMs} ms: ${stderr().trim()}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
