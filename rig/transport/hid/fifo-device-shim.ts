import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Test support: a stand-in FIFO device in its own process, written as a device shim would
 * be (plain blocking opens and reads), so the host side meets real open-order behaviour.
 *
 * - order 'devcc': PATHout for writing, then PATHin for reading, both blocking: the order
 *   google/u2f-ref-code's dev.cc host needs (it opens PATHout, then PATHin).
 * - order 'reverse': PATHin for reading, then PATHout for writing, both blocking.
 * - order 'rdwr': both read-write (Linux: neither open waits).
 *
 * It speaks just enough CTAPHID for HID-INIT-01 and HID-PING-01: INIT (broadcast allocates
 * a channel, another CID keeps it), single-report PING echoed, everything else
 * ERR_INVALID_CMD. With nonce 'wrong' every INIT answer carries the nonce with each byte
 * inverted instead of the nonce sent.
 */
export type ShimOrder = 'devcc' | 'reverse' | 'rdwr';

export interface ShimOptions {
  order: ShimOrder;
  nonce?: 'echo' | 'wrong';
}

const SHIM_SOURCE = String.raw`
import { constants, openSync, readSync, writeSync } from 'node:fs';
const [path, order, nonceMode] = process.argv.slice(2);
let fdIn;
let fdOut;
if (order === 'devcc') {
  fdOut = openSync(path + 'out', constants.O_WRONLY);
  fdIn = openSync(path + 'in', constants.O_RDONLY);
} else if (order === 'reverse') {
  fdIn = openSync(path + 'in', constants.O_RDONLY);
  fdOut = openSync(path + 'out', constants.O_WRONLY);
} else {
  fdIn = openSync(path + 'in', constants.O_RDWR);
  fdOut = openSync(path + 'out', constants.O_RDWR);
}
process.stdout.write('opened\n');
const BROADCAST = 0xffffffff;
const queue = [];
let nextCid = 0x0c0ffee0;
function readExactly(n) {
  const out = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const r = readSync(fdIn, out, got, n - got, null);
    if (r === 0) process.exit(0); // the host closed PATHin
    got += r;
  }
  return out;
}
function header(cmd, len) {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(cmd, 0);
  h.writeUInt32LE(len, 4);
  return h;
}
function frame(cid, cmd, data) {
  const r = Buffer.alloc(64);
  r.writeUInt32BE(cid, 0);
  r[4] = cmd;
  r.writeUInt16BE(data.length, 5);
  data.copy(r, 7);
  return r;
}
function onReport(r) {
  const cid = r.readUInt32BE(0);
  const cmd = r[4];
  if (!(cmd & 0x80)) return; // a continuation: nothing here needs one
  const bcnt = r.readUInt16BE(5);
  const data = r.subarray(7, 7 + Math.min(bcnt, 57));
  if (cid === 0) return queue.push(frame(cid, 0xbf, Buffer.of(0x0b)));
  if (cmd === 0x86) {
    if (bcnt !== 8) return queue.push(frame(cid, 0xbf, Buffer.of(0x03)));
    const answer = Buffer.alloc(17);
    for (let i = 0; i < 8; i++) answer[i] = nonceMode === 'wrong' ? data[i] ^ 0xff : data[i];
    answer.writeUInt32BE(cid === BROADCAST ? nextCid++ : cid, 8);
    answer[12] = 2;
    answer[13] = 1;
    answer[16] = 0x01;
    return queue.push(frame(cid, 0x86, answer));
  }
  if (cid === BROADCAST) return queue.push(frame(cid, 0xbf, Buffer.of(0x0b)));
  if (cmd === 0x81 && bcnt <= 57) return queue.push(frame(cid, 0x81, Buffer.from(data)));
  queue.push(frame(cid, 0xbf, Buffer.of(0x01)));
}
for (;;) {
  const h = readExactly(8);
  const cmd = h.readUInt32LE(0);
  const len = h.readUInt32LE(4);
  const payload = readExactly(len);
  if (cmd === 4 && len === 64) onReport(payload);
  else if (cmd === 5) {
    const report = queue.shift();
    writeSync(fdOut, report ? Buffer.concat([header(5, 64), report]) : header(5, 0));
  } else if (cmd === 2) process.exit(0);
}
`;

export interface FifoShim {
  readonly child: ChildProcess;
  /** What it printed ("opened" once both FIFOs are open). */
  output(): string;
  /** Ends it (SIGKILL, by its pid) and waits until it is gone. */
  stop(): Promise<void>;
}

/** Starts a shim serving `path` (its FIFOs must exist); the script is written into `dir`. */
export function startFifoShim(dir: string, path: string, opts: ShimOptions): FifoShim {
  const script = join(dir, 'fifo-device-shim.mjs');
  writeFileSync(script, SHIM_SOURCE);
  const child = spawn(process.execPath, [script, path, opts.order, opts.nonce ?? 'echo'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d;
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d;
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
