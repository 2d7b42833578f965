import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { toBytes } from '../../bytes.ts';
import { TransportError } from '../../errors.ts';
import type { HidConnection, HidDeviceInfo, UsbInterfaceInfo } from './connection.ts';

/**
 * The node-hid adapter: the only file that imports node-hid. node-hid is an optional
 * dependency and is loaded on first use, never at module load, so the emulated station
 * works on machines where its native library cannot load.
 */
const FIDO_USAGE_PAGE = 0xf1d0;
const FIDO_USAGE = 0x01;

type NodeHid = typeof import('node-hid');
let nodeHid: NodeHid | undefined;

function load(): NodeHid {
  if (nodeHid) return nodeHid;
  const require = createRequire(import.meta.url);
  try {
    nodeHid = require('node-hid') as NodeHid;
    return nodeHid;
  } catch (error) {
    const text = String((error as Error).message);
    const missing = /lib(usb|udev)[^:]*\.so[.\d]*/.exec(text)?.[0];
    const hint = missing
      ? `its native library needs ${missing}: on Debian/Ubuntu run "apt-get install libusb-1.0-0 libudev1"`
      : 'reinstall it with "npm install node-hid"';
    throw new TransportError(
      'UNAVAILABLE',
      `USB HID access is unavailable: node-hid did not load (${hint})`,
      {
        cause: error,
      },
    );
  }
}

function toInfo(d: import('node-hid').Device): HidDeviceInfo {
  return {
    path: d.path ?? '',
    vendorId: d.vendorId,
    productId: d.productId,
    ...(d.serialNumber ? { serialNumber: d.serialNumber } : {}),
    ...(d.manufacturer ? { manufacturer: d.manufacturer } : {}),
    ...(d.product ? { product: d.product } : {}),
    release: d.release,
    ...(d.usagePage !== undefined ? { usagePage: d.usagePage } : {}),
    ...(d.usage !== undefined ? { usage: d.usage } : {}),
    interface: d.interface,
  };
}

/** Attached FIDO HID interfaces (usage page 0xF1D0, usage 0x01). */
export async function listFidoHidDevices(): Promise<HidDeviceInfo[]> {
  const hid = load();
  const all = await hid.devicesAsync();
  return all.filter((d) => d.usagePage === FIDO_USAGE_PAGE && d.usage === FIDO_USAGE && d.path).map(toInfo);
}

export interface HidSelector {
  path?: string;
  vendorId?: number;
  productId?: number;
  serialNumber?: string;
}

export async function openNodeHid(selector: HidSelector, label: string): Promise<HidConnection> {
  const devices = await listFidoHidDevices();
  const match = devices.find(
    (d) =>
      (selector.path === undefined || d.path === selector.path) &&
      (selector.vendorId === undefined || d.vendorId === selector.vendorId) &&
      (selector.productId === undefined || d.productId === selector.productId) &&
      (selector.serialNumber === undefined || d.serialNumber === selector.serialNumber),
  );
  if (!match) {
    const seen = devices.length
      ? `attached FIDO HID devices: ${devices.map((d) => `${d.path} (${hex4(d.vendorId)}:${hex4(d.productId)})`).join(', ')}`
      : 'no FIDO HID device is attached at all';
    throw new TransportError(
      'NOT_FOUND',
      `no such device is attached: ${label} (${seen}). Run "chiprig devices".`,
    );
  }
  const hid = load();
  let dev: import('node-hid').HIDAsync;
  try {
    dev = await hid.HIDAsync.open(match.path);
  } catch (error) {
    throw new TransportError(
      'UNAVAILABLE',
      `cannot open ${match.path}: ${(error as Error).message}. On Linux the user needs read/write access to the hidraw node (udev rule)`,
      { cause: error },
    );
  }
  return new NodeHidConnection(dev, match);
}

class NodeHidConnection implements HidConnection {
  readonly info: HidDeviceInfo;
  readonly #dev: import('node-hid').HIDAsync;
  #closed = false;

  constructor(dev: import('node-hid').HIDAsync, info: HidDeviceInfo) {
    this.#dev = dev;
    this.info = info;
  }

  async write(report: Uint8Array): Promise<void> {
    if (this.#closed) throw new TransportError('DISCONNECTED', 'HID connection is closed');
    if (report.length !== 64) throw new RangeError(`report: expected 64 bytes, got ${report.length}`);
    // hidapi wants the report ID first; FIDO devices have none, so it is 0x00 (65 bytes).
    const out = Buffer.alloc(65);
    out.set(report, 1);
    try {
      await this.#dev.write(out);
    } catch (error) {
      throw new TransportError('DISCONNECTED', `HID write failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  async read(timeoutMs: number): Promise<Uint8Array | undefined> {
    if (this.#closed) throw new TransportError('DISCONNECTED', 'HID connection is closed');
    try {
      const data = await this.#dev.read(Math.max(1, Math.round(timeoutMs)));
      return data && data.length > 0 ? toBytes(data) : undefined;
    } catch (error) {
      throw new TransportError('DISCONNECTED', `HID read failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#dev.close().catch(() => undefined);
  }

  async reportDescriptor(): Promise<Uint8Array | undefined> {
    const dir = sysfsHidDir(this.info.path);
    const file = dir && join(dir, 'report_descriptor');
    return file && existsSync(file) ? toBytes(readFileSync(file)) : undefined;
  }

  async usbInterface(): Promise<UsbInterfaceInfo | undefined> {
    // Linux: the USB interface is the parent of the hidraw node's HID device in sysfs.
    const dir = sysfsHidDir(this.info.path);
    const usb = dir && dirname(dir);
    if (!usb || !existsSync(join(usb, 'bInterfaceClass'))) return undefined;
    const read = (file: string) => readFileSync(join(usb, file), 'utf8').trim();
    const endpoints = readdirSync(usb)
      .filter((name) => name.startsWith('ep_'))
      .map((name) => ({
        name,
        type: read(`${name}/type`),
        direction: read(`${name}/direction`),
        interval: read(`${name}/interval`),
      }));
    return { interfaceClass: Number.parseInt(read('bInterfaceClass'), 16), endpoints, source: usb };
  }
}

/** Linux: the sysfs directory behind a hidraw node. */
function sysfsHidDir(path: string): string | undefined {
  const node = /\/dev\/(hidraw\d+)$/.exec(path)?.[1];
  const dir = node && `/sys/class/hidraw/${node}/device`;
  return dir && existsSync(dir) ? realpathSync(dir) : undefined;
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
