import assert from 'node:assert/strict';
import { hex } from '../../rig/bytes.ts';
import type { HidConnection } from '../../rig/transport/hid/connection.ts';
import { area } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { byteHex, expectSilence, openRaw, settleAfterFailure } from '../support/hid-cases.ts';

const station = await getStation();
const hidProfile = station.profile.hid;

interface ReportItem {
  kind: 'input' | 'output';
  usages: number[];
  bits: number;
}

/** Main Input/Output items of a HID report descriptor (short items; HID 1.11 §6.2.2). */
function reportItems(descriptor: Uint8Array): ReportItem[] {
  const items: ReportItem[] = [];
  let size = 0;
  let count = 0;
  let usages: number[] = [];
  for (let i = 0; i < descriptor.length; ) {
    const prefix = descriptor[i]!;
    if (prefix === 0xfe) {
      i += 3 + (descriptor[i + 1] ?? 0); // long item: skipped
      continue;
    }
    const length = [0, 1, 2, 4][prefix & 3]!;
    let value = 0;
    for (let k = length - 1; k >= 0; k--) value = value * 256 + (descriptor[i + 1 + k] ?? 0);
    const type = (prefix >> 2) & 3;
    const tag = prefix >> 4;
    if (type === 1 && tag === 7) size = value;
    else if (type === 1 && tag === 9) count = value;
    else if (type === 2 && tag === 0) usages.push(value);
    else if (type === 0) {
      if (tag === 8 || tag === 9)
        items.push({ kind: tag === 8 ? 'input' : 'output', usages, bits: size * count });
      usages = [];
    }
    i += 1 + length;
  }
  return items;
}

async function readDescriptor(
  connection: HidConnection,
): Promise<{ bytes: Uint8Array; source: string } | undefined> {
  const bytes = await connection.reportDescriptor?.();
  return bytes ? { bytes, source: 'the connection' } : undefined;
}

describe('USB HID · idle and descriptors', () => {
  const check = area(station, 'hid', 'HID idle and descriptors');
  settleAfterFailure(station);

  check('HID-IDLE-01', 'no unsolicited reports for 0.3 s and for 2.0 s', async () => {
    const raw = await openRaw(station);
    await expectSilence(raw, 300, 'HID-IDLE-01 first 0.3 s');
    await expectSilence(raw, 2000, 'HID-IDLE-01 then 2.0 s');
  });

  check(
    'HID-DESC-01',
    'report descriptor: FIDO usage page, 64-byte input 0x20 and output 0x21',
    async (ctx) => {
      const connection = (await station.hid()).connection;
      const found = await readDescriptor(connection);
      if (!found) {
        return ctx.skip(
          `the HID connection (${connection.info.path}) exposes no report descriptor and no Linux hidraw sysfs node`,
        );
      }
      const d = found.bytes;
      ctx.observe(`report descriptor from ${found.source}: ${hex(d)}`);
      const page = hidProfile.usagePage;
      const prefix = `06${byteHex(page & 0xff)}${byteHex(page >> 8)}09${byteHex(hidProfile.usage)}`;
      assert.equal(
        hex(d.subarray(0, 5)),
        prefix,
        `descriptor must start ${prefix} (usage page F1D0, usage 01): ${hex(d)}`,
      );
      const items = reportItems(d);
      const find = (kind: ReportItem['kind'], usage: number) =>
        items.find((it) => it.kind === kind && it.usages.includes(usage));
      const input = find('input', 0x20);
      const output = find('output', 0x21);
      assert.ok(input, `no Input item with usage 0x20 (data-in): ${hex(d)}`);
      assert.ok(output, `no Output item with usage 0x21 (data-out): ${hex(d)}`);
      assert.equal(input.bits, 512, `input report must be 64 bytes, is ${input.bits / 8}`);
      assert.equal(output.bits, 512, `output report must be 64 bytes, is ${output.bits / 8}`);
    },
  );

  check('HID-DESC-02', 'USB descriptors: HID interface with interrupt IN/OUT endpoints', async (ctx) => {
    const connection = (await station.hid()).connection;
    const info = connection.info;
    ctx.observe(`connection info: ${JSON.stringify(info)}`);
    if (info.usagePage !== undefined) {
      assert.equal(
        info.usagePage,
        hidProfile.usagePage,
        `HID usage page ${info.usagePage.toString(16)}, expected f1d0`,
      );
    }
    if (info.usage !== undefined)
      assert.equal(info.usage, hidProfile.usage, `HID usage ${info.usage}, expected 1`);
    // hidapi hides USB descriptors; the adapter reads them where the OS shows them.
    const usb = await connection.usbInterface?.();
    if (!usb) {
      return ctx.skip(
        `endpoints and bInterval are not visible through the HID connection (path "${info.path}"); check them with lsusb -v`,
      );
    }
    assert.equal(
      usb.interfaceClass,
      0x03,
      `the FIDO interface must be HID class (03), is ${usb.interfaceClass.toString(16)}`,
    );
    const endpoints = usb.endpoints;
    ctx.observe(
      `endpoints (${usb.source}): ${endpoints.map((e) => `${e.name} ${e.type} ${e.direction} ${e.interval}`).join('; ')}`,
    );
    const has = (direction: string) =>
      endpoints.some((e) => e.type === 'Interrupt' && e.direction === direction);
    assert.ok(has('in'), 'the HID interface needs an interrupt IN endpoint');
    assert.ok(has('out'), 'the HID interface needs an interrupt OUT endpoint');
  });
});
