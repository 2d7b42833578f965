import { type ChildProcess, execFile, spawn } from 'node:child_process';
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

/**
 * A host that opens and polls exactly as dev.cc does: PATHout O_RDONLY (blocking until a
 * device holds PATHout for writing), then PATHin O_RDWR; a broadcast INIT as cmd 4, then
 * cmd 5 polls 100 us apart until an answer comes (at most 2 s). It prints the 64-byte answer
 * as hex ("answer HEX") and exits 0, or exits 1 saying what went wrong.
 */
const DEVCC_HOST_SOURCE = String.raw`
import { constants, openSync, readSync, writeSync } from 'node:fs';
const [path, nonceHex] = process.argv.slice(2);
const fdIn = openSync(path + 'out', constants.O_RDONLY);
const fdOut = openSync(path + 'in', constants.O_RDWR);
const pause = new Int32Array(new SharedArrayBuffer(4));
function readExactly(n) {
  const out = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const r = readSync(fdIn, out, got, n - got, null);
    if (r === 0) { process.stdout.write('EOF on PATHout\n'); process.exit(1); }
    got += r;
  }
  return out;
}
const write = Buffer.alloc(72);
write.writeUInt32LE(4, 0);
write.writeUInt32LE(64, 4);
write.writeUInt32BE(0xffffffff, 8);
write[12] = 0x86;
write.writeUInt16BE(8, 13);
Buffer.from(nonceHex, 'hex').copy(write, 15);
writeSync(fdOut, write);
const poll = Buffer.alloc(8);
poll.writeUInt32LE(5, 0);
const end = Date.now() + 2000;
for (;;) {
  writeSync(fdOut, poll);
  const h = readExactly(8);
  if (h.readUInt32LE(0) !== 5) { process.stdout.write('answer with cmd ' + h.readUInt32LE(0) + '\n'); process.exit(1); }
  if (h.readUInt32LE(4) === 64) { process.stdout.write('answer ' + readExactly(64).toString('hex') + '\n'); process.exit(0); }
  if (Date.now() > end) { process.stdout.write('no answer within 2000 ms\n'); process.exit(1); }
  Atomics.wait(pause, 0, 0, 0.1);
}
`;

/** Runs the dev.cc-style host against `path` (the script is written into `dir`); bounded by `timeoutMs`. */
export function runDevccHost(
  dir: string,
  path: string,
  nonceHex: string,
  timeoutMs = 20_000,
): Promise<{ code: number | null; out: string }> {
  const script = join(dir, 'devcc-host.mjs');
  writeFileSync(script, DEVCC_HOST_SOURCE);
  return new Promise((resolve) => {
    execFile(process.execPath, [script, path, nonceHex], { timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}
