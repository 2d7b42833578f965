import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openChip } from '../../../test/support/fido-test-support.ts';
import { concat, fromHex, hex } from '../../bytes.ts';
import { isDeviceFailure, TransportError } from '../../errors.ts';
import { TrafficLog } from '../../traffic.ts';
import { AUTH_P1 } from '../../u2f/apdu.ts';
import {
  encodeAuthenticate,
  encodeRegister,
  encodeVersion,
  parseAuthenticateResponse,
  parseRegisterResponse,
} from '../../u2f/messages.ts';
import { parseResponse, SW } from '../nfc/apdu.ts';
import { BleError } from './ble-error.ts';
import { BleTransport } from './ble-transport.ts';
import type { GattLink } from './connection.ts';
import { BLE_CMD, BLE_ERR, KEEPALIVE_CODE } from './fragments.ts';
import { UUID } from './gatt-uuids.ts';

const r32 = () => Uint8Array.from(randomBytes(32));
const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + 1) & 0xff);
const isCode = (code: string) => (e: unknown) => e instanceof TransportError && e.code === code;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A scripted GattLink: reads answer from `values`, each control point write is answered
 * with the notifications `respond` returns. For device behaviour the emulator never shows.
 */
function scriptedLink(
  values: Record<string, Uint8Array>,
  respond: (frame: Uint8Array) => Uint8Array[] = () => [],
) {
  let onValue: ((data: Uint8Array) => void) | undefined;
  const link = {
    peripheral: { id: 'c0ffee000002', address: 'c0:ff:ee:00:00:02' },
    mtu: 23,
    services: async () => [],
    read: async (_s: string, c: string) => values[c] ?? Uint8Array.of(),
    write: async (_s: string, c: string, data: Uint8Array) => {
      if (c !== UUID.CONTROL_POINT) return;
      for (const n of respond(data)) setImmediate(() => onValue?.(n));
    },
    subscribe: async (_s: string, _c: string, cb: (data: Uint8Array) => void) => {
      onValue = cb;
      return async () => {
        onValue = undefined;
      };
    },
    onDisconnect: () => () => undefined,
    close: async () => undefined,
  } satisfies GattLink;
  return link;
}

describe('BleTransport over FidoBlePeripheral (direct link)', () => {
  let chip: Awaited<ReturnType<typeof openChip>>;
  afterEach(async () => chip?.transport.close());

  it('reads cpl and revisions at open and selects U2F 1.2 (BLE-GATT-03, BLE-VER-01/02)', async () => {
    chip = await openChip();
    assert.equal(chip.transport.kind, 'ble');
    assert.equal(chip.transport.controlPointLength, 20);
    assert.equal(chip.transport.revisions, 0xc0);
    assert.equal(chip.transport.selectedRevision, 'u2f-1.2');
    assert.equal(chip.peripheral.selectedRevision, 0x40);
  });

  it('selects U2F 1.1 on request', async () => {
    chip = await openChip({}, { revision: 'u2f-1.1' });
    assert.equal(chip.peripheral.selectedRevision, 0x80);
  });

  it('exchanges VERSION and logs frames (ble) and messages (apdu)', async () => {
    const log = new TrafficLog();
    chip = await openChip({}, { log });
    const r = parseResponse(await chip.transport.exchange(encodeVersion()));
    assert.equal(new TextDecoder().decode(r.data), 'U2F_V2');
    assert.equal(r.sw, SW.NO_ERROR);
    const { entries } = log.drain();
    assert.ok(entries.some((e) => e.layer === 'ble' && e.dir === 'send' && e.hex.startsWith('830007')));
    assert.ok(entries.some((e) => e.layer === 'apdu' && e.dir === 'recv' && e.hex === '5532465f56329000'));
  });

  it('REGISTERs with a press given during TUP_NEEDED keepalives (BLE-KA-01, BLE-U2F-02)', async () => {
    chip = await openChip();
    setTimeout(() => chip.presence.press(), 250);
    const started = performance.now();
    const r = parseResponse(await chip.transport.exchange(encodeRegister(r32(), r32())));
    assert.equal(r.sw, SW.NO_ERROR);
    assert.ok(performance.now() - started >= 240);
    assert.equal(parseRegisterResponse(r.data).keyHandle.length, 64);
    const kas = chip.transport.keepalives;
    assert.ok(kas.length >= 3, `expected keepalives, got ${kas.length}`);
    assert.ok(kas.every((k) => k.code === KEEPALIVE_CODE.TUP_NEEDED));
    assert.ok(kas.at(-1)!.atMs < 260);
  });

  it('AUTHENTICATEs: check-only 6985 at once, enforce with a press, counter +1 (BLE-U2F-03)', async () => {
    chip = await openChip();
    const app = r32();
    chip.presence.press();
    const reg = parseRegisterResponse(
      parseResponse(await chip.transport.exchange(encodeRegister(r32(), app))).data,
    );
    const check = await chip.transport.exchange(
      encodeAuthenticate(AUTH_P1.CHECK_ONLY, r32(), app, reg.keyHandle),
    );
    assert.equal(hex(check), '6985');
    assert.equal(chip.transport.keepalives.length, 0, 'check-only must not wait for the button');
    const counters: number[] = [];
    for (let i = 0; i < 2; i++) {
      chip.presence.press();
      const r = parseResponse(
        await chip.transport.exchange(encodeAuthenticate(AUTH_P1.ENFORCE, r32(), app, reg.keyHandle)),
      );
      assert.equal(r.sw, SW.NO_ERROR);
      const auth = parseAuthenticateResponse(r.data);
      assert.equal(auth.flags, 0x01);
      counters.push(auth.counter);
    }
    assert.equal(counters[1], counters[0]! + 1);
  });

  it('answers 6985 when no press comes within presenceTimeoutMs', async () => {
    chip = await openChip({ presenceTimeoutMs: 200 });
    assert.equal(hex(await chip.transport.exchange(encodeRegister(r32(), r32()))), '6985');
    assert.ok(chip.transport.keepalives.length >= 2);
  });

  for (const [size, cpl] of [
    [128, 20],
    [512, 20],
    [512, 512],
    [2500, 20], // BLE-FRAG-07: SEQ wraps both ways
  ]) {
    it(`PINGs ${size} bytes at cpl ${cpl} (BLE-PING-02/03)`, async () => {
      chip = await openChip({ controlPointLength: cpl! });
      assert.equal(chip.transport.controlPointLength, cpl);
      const data = bytes(size!);
      assert.equal(hex(await chip.transport.ping(data)), hex(data));
    });
  }

  it('writes without response when asked (BLE-GATT-05)', async () => {
    chip = await openChip({}, { writeWithoutResponse: true });
    assert.equal(hex(await chip.transport.ping(bytes(100))), hex(bytes(100)));
  });

  it('rejects bad call parameters by name without sending', async () => {
    chip = await openChip();
    await assert.rejects(chip.transport.call(0x03, bytes(1)), /cmd/);
    await assert.rejects(chip.transport.ping(new Uint8Array(0x10000)), /payload/);
    await assert.rejects(chip.transport.exchange(encodeVersion(), { timeoutMs: 0 }), /timeoutMs/);
  });

  it('queues concurrent calls', async () => {
    chip = await openChip();
    const [a, b, c] = await Promise.all([
      chip.transport.ping(bytes(40)),
      chip.transport.exchange(encodeVersion()),
      chip.transport.ping(bytes(3)),
    ]);
    assert.equal(hex(a), hex(bytes(40)));
    assert.equal(hex(b), '5532465f56329000');
    assert.equal(hex(c), hex(bytes(3)));
  });

  it('rejects an ERROR frame with BleError carrying the code (BLE-CMD-01)', async () => {
    chip = await openChip();
    await assert.rejects(chip.transport.call(0x84, new Uint8Array(0)), (e: unknown) => {
      return e instanceof BleError && e.errorCode === BLE_ERR.INVALID_CMD && !isDeviceFailure(e);
    });
    assert.equal(hex(await chip.transport.ping(bytes(5))), hex(bytes(5)));
  });

  it('flags response continuations starting at SEQ 1 as a device fault, then recovers', async () => {
    chip = await openChip({ faults: { wrongContinuationSeq: true } });
    await assert.rejects(chip.transport.ping(bytes(60)), (e: unknown) => isDeviceFailure(e));
    assert.equal(hex(await chip.transport.ping(bytes(10))), hex(bytes(10)));
  });

  it('makes a chip without keepalives visible: an empty keepalive record', async () => {
    chip = await openChip({ faults: { noKeepalive: true } });
    setTimeout(() => chip.presence.press(), 200);
    assert.equal(parseResponse(await chip.transport.exchange(encodeRegister(r32(), r32()))).sw, SW.NO_ERROR);
    assert.deepEqual(chip.transport.keepalives, []);
  });

  it('times out, drops the late answer and stays usable', async () => {
    chip = await openChip({ faults: { noKeepalive: true }, presenceTimeoutMs: 150 });
    await assert.rejects(
      chip.transport.exchange(encodeRegister(r32(), r32()), { timeoutMs: 100 }),
      isCode('TIMEOUT'),
    );
    await sleep(100); // the chip gives up and sends 6985 to nobody
    assert.equal(hex(await chip.transport.exchange(encodeVersion())), '5532465f56329000');
  });

  it('cancels on an aborted signal', async () => {
    chip = await openChip();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const call = chip.transport.exchange(encodeRegister(r32(), r32()), { signal: controller.signal });
    await assert.rejects(call, isCode('CANCELLED'));
  });

  it('rejects DISCONNECTED when the peripheral drops the link, and after close', async () => {
    chip = await openChip();
    const call = chip.transport.exchange(encodeRegister(r32(), r32()));
    setTimeout(() => chip.link.close(), 50);
    await assert.rejects(call, isCode('DISCONNECTED'));
    await chip.transport.close();
    await chip.transport.close(); // idempotent
    await assert.rejects(chip.transport.ping(bytes(1)), isCode('DISCONNECTED'));
    assert.equal(chip.peripheral.connected, false);
    assert.equal(chip.peripheral.waitingForPress, false, 'timers cleared on disconnect');
  });
});

describe('BleTransport against scripted device faults', () => {
  const good = {
    [UUID.CONTROL_POINT_LENGTH]: fromHex('0014'),
    [UUID.SERVICE_REVISION_BITFIELD]: fromHex('40'),
  };

  for (const [name, values, cpl, finding] of [
    [
      'cpl 19 (BLE-GATT-03)',
      { ...good, [UUID.CONTROL_POINT_LENGTH]: fromHex('0013') },
      20,
      /reads 0013 \(19\)/,
    ],
    [
      'cpl 10 (BLE-GATT-03)',
      { ...good, [UUID.CONTROL_POINT_LENGTH]: fromHex('000a') },
      20,
      /reads 000a \(10\)/,
    ],
    [
      'cpl 513 (BLE-GATT-03)',
      { ...good, [UUID.CONTROL_POINT_LENGTH]: fromHex('0201') },
      512,
      /reads 0201 \(513\)/,
    ],
    ['a 1-byte cpl (BLE-GATT-03)', { ...good, [UUID.CONTROL_POINT_LENGTH]: fromHex('14') }, 20, /reads 14,/],
    [
      'a bitfield 00 (BLE-VER-01)',
      { ...good, [UUID.SERVICE_REVISION_BITFIELD]: fromHex('00') },
      20,
      /reads 00, not/,
    ],
    [
      'a bitfield ending in 00 (BLE-VER-01)',
      { ...good, [UUID.SERVICE_REVISION_BITFIELD]: fromHex('4000') },
      20,
      /reads 4000/,
    ],
    [
      'a bitfield with neither U2F bit',
      { ...good, [UUID.SERVICE_REVISION_BITFIELD]: fromHex('20') },
      20,
      /neither U2F 1\.1/,
    ],
  ] as const) {
    it(`opens on ${name}, records it and stays usable`, async () => {
      const writes: string[] = [];
      const link = scriptedLink(values, (frame) => {
        writes.push(hex(frame));
        return [frame]; // a PING echo
      });
      const write = link.write;
      link.write = async (s, c, data) => {
        if (c === UUID.SERVICE_REVISION_BITFIELD) writes.push(`select ${hex(data)}`);
        return write(s, c, data);
      };
      const log = new TrafficLog();
      const transport = await BleTransport.open(link, { log, timeoutMs: 500 });
      try {
        assert.equal(transport.controlPointLength, cpl);
        assert.equal(hex(transport.controlPointLengthRead), hex(values[UUID.CONTROL_POINT_LENGTH]!));
        assert.equal(transport.setupFindings.length, 1, transport.setupFindings.join('; '));
        assert.match(transport.setupFindings[0]!, finding);
        assert.ok(
          log.drain().entries.some((e) => e.dir === 'note' && finding.test(e.note ?? '')),
          'the finding is in the traffic',
        );
        const revisionBroken =
          values[UUID.SERVICE_REVISION_BITFIELD] !== good[UUID.SERVICE_REVISION_BITFIELD];
        assert.equal(transport.selectedRevision, revisionBroken ? undefined : 'u2f-1.2');
        assert.equal(writes.includes('select 40'), !revisionBroken, `writes: ${writes.join(', ')}`);
        assert.equal(hex(await transport.ping(bytes(4))), hex(bytes(4)));
      } finally {
        await transport.close();
      }
    });
  }

  const respondWith = (frames: string[]) => async () =>
    BleTransport.open(
      scriptedLink(good, () => frames.map((f) => fromHex(f))),
      { timeoutMs: 300 },
    );

  for (const [name, frames] of [
    [
      'a KEEPALIVE between fragments (BLE-FRAG-06)',
      [`830020${'00'.repeat(17)}`, '820001' + '02', `00${'00'.repeat(15)}`],
    ],
    ['a response command other than the request', ['810002' + '9000']],
    ['a fragment longer than cpl', [`830012${'00'.repeat(18)}`]],
    ['a continuation with no frame open', ['00' + '9000']],
    ['an ERROR with 2 payload bytes', ['bf0002' + '0101']],
    ['more data than announced', ['830001' + '9000']],
  ] as const) {
    it(`flags ${name} as a device fault`, async () => {
      const transport = await respondWith([...frames])();
      await assert.rejects(transport.exchange(encodeVersion()), (e: unknown) => isDeviceFailure(e));
      await transport.close();
    });
  }

  it('lets keepalives before the reply extend the wait', async () => {
    const transport = await respondWith(['820001' + '01', '820001' + '02', '830002' + '9000'])();
    assert.equal(hex(await transport.exchange(encodeVersion())), '9000');
    assert.deepEqual(
      transport.keepalives.map((k) => k.code),
      [KEEPALIVE_CODE.PROCESSING, KEEPALIVE_CODE.TUP_NEEDED],
    );
    await transport.close();
  });

  it('sends raw frames and reads raw notifications', async () => {
    const link = scriptedLink(good, (f) => [
      concat(Uint8Array.of(BLE_CMD.ERROR, 0, 1), Uint8Array.of(f[0]!)),
    ]);
    const transport = await BleTransport.open(link);
    await transport.sendRaw(fromHex('04'));
    assert.equal(hex((await transport.nextNotification(500))!), 'bf000104');
    assert.equal(await transport.nextNotification(20), undefined);
    await transport.close();
  });
});
