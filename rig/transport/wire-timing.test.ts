import assert from 'node:assert/strict';
import { openChip } from '../../test/support/fido-test-support.ts';
import { concat, fromHex, hex } from '../bytes.ts';
import { EmulatedHidDevice } from '../emulator/front-ends/hid.ts';
import { TrafficLog } from '../traffic.ts';
import { encodeVersion } from '../u2f/messages.ts';
import { HidTransport } from './hid/hid-transport.ts';
import type { CardConnection } from './nfc/connection.ts';
import { NfcTransport } from './nfc/nfc-transport.ts';
import { deviceTimeMs, type Transport } from './transport.ts';

const DEVICE_MS = 20;
/**
 * Host-side work per U2F message logged (before the first report out, after the last in).
 * Large beside a loaded machine's stalls (a few ms), so the bounds below separate host work
 * from device time and not the machine's load from either.
 */
const HOST_MS = 40;
// Node's timers count whole milliseconds of loop time: a sleep may end up to 1 ms early by
// performance.now(), so the bounds below allow that much.
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

/** A traffic log whose message-level entries cost the host HOST_MS of CPU each. */
function slowHostLog(): TrafficLog {
  const log = new TrafficLog();
  log.onEntry = (entry) => {
    if (entry.layer !== 'apdu') return;
    const until = now() + HOST_MS;
    while (now() < until) {
      // the rig's own work, which device time must leave out
    }
  };
  return log;
}

async function timed(transport: Transport, run: () => Promise<unknown>) {
  const t0 = now();
  await run();
  const t1 = now();
  return { aroundMs: t1 - t0, deviceMs: deviceTimeMs(transport, t0, t1) };
}

describe('wire timing: device time leaves the rig’s own work out', () => {
  it('USB HID: from the first report written to the last report read', async () => {
    const device = new EmulatedHidDevice({
      handleApdu: async (apdu) => {
        await sleep(DEVICE_MS);
        return concat(apdu, fromHex('9000'));
      },
    });
    const hid = await HidTransport.open(device, { log: slowHostLog(), timeoutMs: 1000 });
    try {
      const t = await timed(hid, () => hid.exchange(new Uint8Array(200)));
      assert.ok(t.aroundMs >= DEVICE_MS + 2 * HOST_MS - 1, `around the call ${t.aroundMs} ms`);
      assert.ok(t.deviceMs >= DEVICE_MS - 1 && t.deviceMs < DEVICE_MS + HOST_MS, `device ${t.deviceMs} ms`);
      assert.ok(hid.wire && hid.wire.receivedAt > hid.wire.sentAt);
    } finally {
      await hid.close();
    }
  });

  it('USB HID: a failed exchange leaves no wire times, and deviceTimeMs falls back to the call', async () => {
    const device = new EmulatedHidDevice({ handleApdu: () => new Promise(() => undefined) });
    const hid = await HidTransport.open(device, { timeoutMs: 1000 });
    try {
      // No reply; the device still answers INIT, so it is judged a dropped reply. Either way: no wire times.
      await assert.rejects(hid.exchange(encodeVersion(), { timeoutMs: 30 }), /dropped its reply/);
      assert.equal(hid.wire, undefined);
      assert.equal(deviceTimeMs(hid, 10, 25), 15);
    } finally {
      await hid.close();
    }
  });

  it('NFC: from the first C-APDU (SELECT included) to the last R-APDU', async () => {
    const card: CardConnection = {
      reader: 'slow card',
      atr: fromHex('3b80800101'),
      async transmit(apdu) {
        await sleep(DEVICE_MS / 2);
        return hex(apdu).startsWith('00a40400') ? fromHex('5532465f56329000') : concat(apdu, fromHex('9000'));
      },
      async close() {},
    };
    const nfc = new NfcTransport(card, { log: slowHostLog(), apdu: 'extended' });
    const t = await timed(nfc, () => nfc.exchange(encodeVersion()));
    assert.ok(t.aroundMs >= DEVICE_MS + 2 * HOST_MS - 1, `around the call ${t.aroundMs} ms`);
    // SELECT and VERSION, DEVICE_MS / 2 each; the log's cost between them is host work.
    assert.ok(t.deviceMs >= DEVICE_MS - 1 && t.deviceMs < DEVICE_MS + HOST_MS, `device ${t.deviceMs} ms`);
  });

  it('Bluetooth LE: from the first fragment written to the last notification taken', async () => {
    const chip = await openChip({}, { log: slowHostLog() });
    try {
      const t = await timed(chip.transport, () => chip.transport.exchange(encodeVersion()));
      assert.ok(t.aroundMs >= 2 * HOST_MS, `around the call ${t.aroundMs} ms`);
      assert.ok(t.deviceMs < HOST_MS, `device ${t.deviceMs} ms (the emulated chip answers at once)`);
      assert.ok(chip.transport.wire!.sentAt >= 0);
    } finally {
      await chip.transport.close();
    }
  });
});
