/**
 * Two linked pseudo-terminals from socat (`socat pty,raw,echo=0,link=A pty,raw,echo=0,link=B`):
 * an instrument simulator opens one end with serialport, the driver under test opens the
 * other, and every byte between them crosses a real tty as it would over USB CDC or RS-232.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstrumentError } from '../errors.ts';

export interface PtyPair {
  /** The end the driver opens (what a station file names as the instrument's port). */
  readonly driverPath: string;
  /** The end the simulator opens. */
  readonly simulatorPath: string;
  /** Stops socat and removes the links. Idempotent. */
  close(): Promise<void>;
}

export function socatAvailable(): boolean {
  return !spawnSync('socat', ['-V'], { stdio: 'ignore' }).error;
}

/** Starts socat and waits (up to timeoutMs) until both pty links exist. */
export async function openPtyPair(
  opts: { dir?: string; name?: string; timeoutMs?: number } = {},
): Promise<PtyPair> {
  if (!socatAvailable()) {
    throw new InstrumentError('UNAVAILABLE', 'socat not found: install socat (apt-get install -y socat)');
  }
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'chiprig-pty-'));
  const name = opts.name ?? 'instrument';
  const driverPath = join(dir, `${name}-driver`);
  const simulatorPath = join(dir, `${name}-sim`);
  // socat under a shell that holds a pipe from this process: when the pipe closes (close()
  // ends it, or this process ends, even killed) the shell stops socat. A socat started
  // directly outlives a killed rig and keeps its ptys.
  const child: ChildProcess = spawn(
    'sh',
    [
      '-c',
      'socat "$@" & p=$!; read _ignored; kill "$p" 2>/dev/null; wait "$p"',
      'sh',
      `pty,raw,echo=0,link=${driverPath}`,
      `pty,raw,echo=0,link=${simulatorPath}`,
    ],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
  child.stdin?.on('error', () => undefined);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  while (!(existsSync(driverPath) && existsSync(simulatorPath))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.stdin?.end();
      setTimeout(() => child.kill(), 2000).unref();
      throw new InstrumentError(
        'UNAVAILABLE',
        `socat did not create the pty pair in ${dir}: ${stderr.trim() || 'no output'}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  let closing: Promise<void> | undefined;
  return {
    driverPath,
    simulatorPath,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const done = () => {
          if (!opts.dir) rmSync(dir, { recursive: true, force: true });
          resolve();
        };
        if (child.exitCode !== null) return done();
        child.once('exit', done);
        child.stdin?.end();
        // A shell that does not end at once is stopped (socat then ends with its pty gone).
        setTimeout(() => child.kill(), 2000).unref();
      });
      return closing;
    },
  };
}
