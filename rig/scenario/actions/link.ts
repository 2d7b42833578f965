/**
 * Raw link actions: bytes below U2F on the scenario's transport (an APDU to the card, a
 * CTAPHID or FIDO BLE command, a HID report, a BLE frame) and a BLE scan.
 */
import { ChiprigError, CtapHidError } from '../../errors.ts';
import { BleError } from '../../transport/ble/ble-error.ts';
import { CTAPHID } from '../../transport/hid/framing.ts';
import { parseResponse } from '../../transport/nfc/apdu.ts';
import { type ActionHandler, apduAnswer, short, timed } from '../action.ts';
import type { Action, Step } from '../schema.ts';
import { value } from '../values.ts';

/** The pairing bit of the FIDO service data (FFFD) in an advertisement. */
const PAIRING_BIT = 0x80;

/** A CTAPHID or FIDO BLE command and its answer; the device's ERROR answer is the answer's error. */
function command(action: 'ctaphid' | 'ble'): ActionHandler {
  const of = (step: Step) => (action === 'ctaphid' ? step.ctaphid! : step.ble!);
  return {
    async run(run, step) {
      const { station } = run;
      const c = of(step);
      const cmd = typeof c.cmd === 'number' ? c.cmd : CTAPHID[c.cmd as keyof typeof CTAPHID];
      const data = c.data ? value(run, c.data) : new Uint8Array(0);
      const link = action === 'ctaphid' ? await station.hid() : await station.ble();
      return timed(async () => {
        try {
          return { data: await link.call(cmd, data) };
        } catch (error) {
          if (error instanceof CtapHidError || error instanceof BleError) return { error: error.errorCode };
          throw error;
        }
      });
    },
    describe: (step, name) => {
      const c = of(step);
      return `${action}${name} ${typeof c.cmd === 'number' ? `0x${c.cmd.toString(16)}` : c.cmd} ${short(c.data)}`;
    },
  };
}

export const LINK_ACTIONS = {
  'raw-apdu': {
    async run(run, step) {
      const nfc = await run.station.nfc();
      return timed(async () =>
        apduAnswer(parseResponse(await nfc.transmitRaw(value(run, step['raw-apdu']!)))),
      );
    },
    describe: (step, name) => `raw-apdu${name} ${short(step['raw-apdu'])}`,
  },

  ctaphid: command('ctaphid'),

  ble: command('ble'),

  'hid-report': {
    async run(run, step, where) {
      const { station } = run;
      const r = step['hid-report']!;
      const report = new Uint8Array(64);
      const bytes = value(run, r.report);
      if (bytes.length > 64)
        throw new ChiprigError('SCENARIO', `${where}: a report holds 64 bytes, not ${bytes.length}`);
      report.set(bytes);
      const connection = (await station.hid()).connection;
      return timed(async () => {
        station.traffic.record('send', 'hid', report, 'raw report');
        await connection.write(report);
        const got = await connection.read(r.waitMs ?? 1000);
        if (got) station.traffic.record('recv', 'hid', got);
        return got ? { data: got } : { none: true };
      });
    },
    describe: (step, name) => `hid-report${name} ${short(step['hid-report']!.report)}`,
  },

  'ble-frame': {
    async run(run, step) {
      const f = step['ble-frame']!;
      const ble = await run.station.ble();
      const frame = value(run, f.frame);
      return timed(async () => {
        await ble.sendRaw(frame);
        const got = await ble.nextNotification(f.waitMs ?? 1000);
        return got ? { data: got } : { none: true };
      });
    },
    describe: (step, name) => `ble-frame${name} ${short(step['ble-frame']!.frame)}`,
  },

  scan: {
    async run(run, step) {
      const { station } = run;
      const ads = await station.bleScan(step.scan?.timeoutMs ?? 3000);
      const spec = station.deviceSpec;
      const target = (
        spec.kind === 'ble' ? spec.target : (station.emulator?.blePeripheral().address ?? '')
      ).toLowerCase();
      const ad = ads.find(
        (a) =>
          !target ||
          a.address.toLowerCase() === target ||
          a.localName?.toLowerCase() === target ||
          a.id === target.replaceAll(':', ''),
      );
      const flags = ad?.serviceData.find((d) => d.uuid === 'fffd')?.data[0] ?? 0;
      return { found: ad !== undefined, pairingMode: (flags & PAIRING_BIT) !== 0 };
    },
  },
} satisfies Partial<Record<Action, ActionHandler>>;
