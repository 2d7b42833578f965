/**
 * Serial ports for `chiprig devices`: where a lab's instruments are (an Arduino with
 * StandardFirmata, a USB-RS232/485 adapter to a chamber controller, a Nordic PPK2), each
 * with a hint from its USB IDs. serialport lists ports through udevadm on Linux; where
 * udevadm is missing (containers, minimal images) the /dev entries are listed instead and
 * the reason is reported, never thrown.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { SerialPort } from 'serialport';

export interface SerialPortRow {
  path: string;
  manufacturer?: string;
  serialNumber?: string;
  vendorId?: string;
  productId?: string;
  /** What the USB IDs suggest it is, e.g. "Nordic PPK2 (power meter)". */
  hint?: string;
}

/** USB IDs of the instruments (and adapters) the rig knows, lower-case hex "vid:pid". */
const KNOWN: Record<string, string> = {
  '1915:c00a': 'Nordic PPK2 (power meter)',
  '2341:0043': 'Arduino Uno (Firmata presser?)',
  '2341:0001': 'Arduino Uno (Firmata presser?)',
  '2a03:0043': 'Arduino Uno (Firmata presser?)',
  '2341:0243': 'Arduino Uno (Firmata presser?)',
  '2341:0042': 'Arduino Mega 2560 (Firmata presser?)',
  '0403:6001': 'FTDI USB-serial adapter (chamber controller?)',
  '067b:2303': 'Prolific PL2303 USB-serial adapter (chamber controller?)',
  '1a86:7523': 'CH340 USB-serial adapter',
  '10c4:ea60': 'CP210x USB-serial adapter',
};

export function hintFor(vendorId: string | undefined, productId: string | undefined): string | undefined {
  if (!vendorId || !productId) return undefined;
  return KNOWN[`${vendorId.toLowerCase().padStart(4, '0')}:${productId.toLowerCase().padStart(4, '0')}`];
}

export interface ListOptions {
  /** The port lister (serialport's by default; tests inject a failing one). */
  list?: () => Promise<Awaited<ReturnType<typeof SerialPort.list>>>;
  /** Where device nodes live (tests point it elsewhere). */
  devDir?: string;
  timeoutMs?: number;
}

/** Lists serial ports; `problem` says why the list may be incomplete. */
export async function listSerialPorts(
  opts: ListOptions = {},
): Promise<{ ports: SerialPortRow[]; problem?: string }> {
  const list = opts.list ?? (() => SerialPort.list());
  const timeoutMs = opts.timeoutMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const found = await Promise.race([
      list(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return {
      ports: found.map((p) => {
        const hint = hintFor(p.vendorId, p.productId);
        return {
          path: p.path,
          ...(p.manufacturer ? { manufacturer: p.manufacturer } : {}),
          ...(p.serialNumber ? { serialNumber: p.serialNumber } : {}),
          ...(p.vendorId ? { vendorId: p.vendorId } : {}),
          ...(p.productId ? { productId: p.productId } : {}),
          ...(hint ? { hint } : {}),
        };
      }),
    };
  } catch (error) {
    const why = (error as Error)?.message ?? String(error);
    const missing = /udevadm|ENOENT/.test(why) ? 'udevadm is not installed (apt-get install udev)' : why;
    return {
      ports: listDevNodes(opts.devDir ?? '/dev'),
      problem: `serial ports: the system lister failed (${missing}); listed /dev entries without USB details instead`,
    };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** USB serial device nodes and their stable /dev/serial/by-id names, without udev. */
function listDevNodes(dev: string): SerialPortRow[] {
  const rows = new Map<string, SerialPortRow>();
  try {
    for (const name of readdirSync(dev)) {
      if (/^tty(USB|ACM)\d+$/.test(name)) rows.set(join(dev, name), { path: join(dev, name) });
    }
  } catch {
    return [];
  }
  const byId = join(dev, 'serial', 'by-id');
  try {
    for (const link of readdirSync(byId)) {
      const target = resolve(byId, readlinkSync(join(byId, link)));
      const row = rows.get(target) ?? { path: target };
      // by-id names read like usb-Arduino__www.arduino.cc__0043_75833353035351A0E1E1-if00
      row.manufacturer ??= basename(link)
        .replace(/^usb-/, '')
        .replace(/-if\d+(-port\d+)?$/, '');
      rows.set(target, row);
    }
  } catch {
    // No by-id folder: plain nodes only.
  }
  return [...rows.values()].sort((a, b) => a.path.localeCompare(b.path));
}
