import assert from 'node:assert/strict';
import { emulatedChip } from '../../../test/support/fido-test-support.ts';
import { hex } from '../../bytes.ts';
import type { TransportError } from '../../errors.ts';
import { BleTransport } from '../../transport/ble/ble-transport.ts';
import type { GattLink } from '../../transport/ble/connection.ts';
import { GattError } from '../../transport/ble/connection.ts';
import { connectGatt, createNoble, type Noble, scanFido, stop } from '../../transport/ble/noble.ts';
import { parseResponse, SW } from '../../transport/nfc/apdu.ts';
import { encodeVersion } from '../../u2f/messages.ts';
import { EmulatedBleBindings } from './noble-bindings.ts';
import type { AdvertisingData, CentralSession, ServiceDef, VirtualPeripheral } from './peripheral.ts';

/** Drives REAL noble (its Peripheral/Service/Characteristic code) through Path A. */

const SVC = 'a000';
const C = { READ: 'a001', WRITE: 'a002', NOTIFY: 'a003', REFUSE: 'a004', DROP: 'a005', SILENT: 'a006' };
const ADDRESS = 'C0:FF:EE:00:00:01';

/** A read char, a write char echoing into a notify char, a refusing char and a link-dropping char. */
class FakePeripheral implements VirtualPeripheral {
  readonly address = ADDRESS;
  readonly maxMtu = 185;
  session: CentralSession | undefined;
  readonly events: string[] = [];

  advertising(): AdvertisingData {
    return {
      localName: 'chiprig-fake',
      serviceUuids: ['fffd'],
      serviceData: [{ uuid: 'fffd', data: Uint8Array.of(0x80) }],
      flags: 0x06,
      connectable: true,
    };
  }
  services(): ServiceDef[] {
    const echo = (data: Uint8Array) => {
      this.session?.notify(SVC, C.NOTIFY, data);
      return undefined;
    };
    const drop = () => {
      this.session?.disconnect('peripheral dropped the link');
      return undefined;
    };
    return [
      {
        uuid: SVC,
        characteristics: [
          { uuid: C.READ, properties: ['read'], read: () => Uint8Array.of(1, 2, 3) },
          { uuid: C.WRITE, properties: ['write', 'writeWithoutResponse'], write: echo },
          { uuid: C.NOTIFY, properties: ['notify'] },
          { uuid: C.REFUSE, properties: ['write'], write: () => 0x05 },
          { uuid: C.DROP, properties: ['write'], write: drop },
          { uuid: C.SILENT, properties: ['write'], write: () => undefined },
        ],
      },
    ];
  }
  connect(session: CentralSession, mtu: number): void {
    this.session = session;
    this.events.push(`connect ${mtu}`);
  }
  disconnected(reason: string): void {
    this.session = undefined;
    this.events.push(`disconnected ${reason}`);
  }
  subscribed(service: string, characteristic: string, on: boolean): void {
    this.events.push(`subscribed ${service}/${characteristic} ${on}`);
  }
}

/** Swallows writes to SILENT: a peripheral that never answers, for the deadline. */
class SilentBindings extends EmulatedBleBindings {
  override write(
    id: string,
    service: string,
    char: string,
    data: Uint8Array,
    withoutResponse: boolean,
  ): void {
    if (char !== C.SILENT) super.write(id, service, char, data, withoutResponse);
  }
}

describe('EmulatedBleBindings under real noble (Path A)', () => {
  let fake: FakePeripheral;
  let noble: Noble;
  let link: GattLink | undefined;

  beforeEach(() => {
    fake = new FakePeripheral();
    noble = createNoble({ kind: 'bindings', bindings: new SilentBindings([fake]) });
  });
  afterEach(async () => {
    await link?.close();
    link = undefined;
    await stop(noble);
  });

  const open = async () => {
    link = await connectGatt(noble, 'chiprig-fake', { timeoutMs: 1000, callTimeoutMs: 500 });
    return link;
  };

  it('scan finds the advertiser with its service data and flags', async () => {
    const seen = await scanFido(noble, { timeoutMs: 20 });
    assert.equal(seen.length, 1);
    const [adv] = seen;
    assert.equal(adv?.id, 'c0ffee000001');
    assert.equal(adv?.address, 'c0:ff:ee:00:00:01');
    assert.equal(adv?.localName, 'chiprig-fake');
    assert.deepEqual(adv?.serviceUuids, ['fffd']);
    assert.equal(adv?.serviceData[0]?.uuid, 'fffd');
    assert.equal(hex(adv?.serviceData[0]?.data ?? new Uint8Array()), '80');
    assert.equal(adv?.flags, 0x06);
    assert.equal(adv?.connectable, true);
  });

  it('a scan for another service sees nothing', async () => {
    assert.deepEqual(await scanFido(noble, { timeoutMs: 20, serviceUuid: '180d' }), []);
  });

  it('connects by id, address or name; discovers services; MTU from noble', async () => {
    for (const target of ['c0ffee000001', ADDRESS, 'chiprig-fake']) {
      const l = await connectGatt(noble, target, { timeoutMs: 1000 });
      assert.equal(l.peripheral.id, 'c0ffee000001');
      assert.equal(l.mtu, 185);
      const [svc] = await l.services();
      assert.equal(svc?.uuid, SVC);
      assert.deepEqual(
        svc?.characteristics.map((c) => `${c.uuid}:${c.properties.join('+')}`),
        [
          'a001:read',
          'a002:write+writeWithoutResponse',
          'a003:notify',
          'a004:write',
          'a005:write',
          'a006:write',
        ],
      );
      await l.close();
      await l.close(); // idempotent
    }
    assert.deepEqual(fake.events.filter((e) => e.startsWith('connect')).length, 3);
  });

  it('an unknown target is NOT_FOUND, naming what the scan saw', async () => {
    await assert.rejects(connectGatt(noble, 'nope', { timeoutMs: 30 }), (e: TransportError) => {
      assert.equal(e.code, 'NOT_FOUND');
      assert.match(e.message, /chiprig-fake c0:ff:ee:00:00:01/);
      return true;
    });
  });

  it('reads, and writes with and without response; notifications come in order', async () => {
    const l = await open();
    assert.equal(hex(await l.read(SVC, C.READ)), '010203');
    await l.write(SVC, C.WRITE, Uint8Array.of(0xee)); // not subscribed yet: no notification
    const got: string[] = [];
    const unsubscribe = await l.subscribe(SVC, C.NOTIFY, (d) => got.push(hex(d)));
    assert.ok(fake.events.includes(`subscribed ${SVC}/${C.NOTIFY} true`));
    await l.write(SVC, C.WRITE, Uint8Array.of(1));
    await l.write(SVC, C.WRITE, Uint8Array.of(2), { withoutResponse: true });
    await l.write(SVC, C.WRITE, Uint8Array.of(3));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got, ['01', '02', '03']);
    await unsubscribe();
    assert.ok(fake.events.includes(`subscribed ${SVC}/${C.NOTIFY} false`));
    await l.write(SVC, C.WRITE, Uint8Array.of(4));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got, ['01', '02', '03']);
  });

  it('a refused write rejects GattError with the ATT code; the link stays usable', async () => {
    const l = await open();
    await assert.rejects(l.write(SVC, C.REFUSE, Uint8Array.of(0)), (e: GattError) => {
      assert.ok(e instanceof GattError);
      assert.equal(e.attCode, 0x05);
      return true;
    });
    await assert.rejects(
      l.read(SVC, C.WRITE),
      (e: GattError) => e instanceof GattError && e.attCode === 0x02,
    );
    assert.equal(hex(await l.read(SVC, C.READ)), '010203');
  });

  it('an unanswered call times out and frees the queue', async () => {
    const l = await open();
    const t0 = performance.now();
    await assert.rejects(l.write(SVC, C.SILENT, Uint8Array.of(0), { timeoutMs: 30 }), { code: 'TIMEOUT' });
    assert.ok(performance.now() - t0 < 500);
    assert.equal(hex(await l.read(SVC, C.READ)), '010203');
  });

  it('an aborted call rejects CANCELLED', async () => {
    const l = await open();
    await assert.rejects(l.read(SVC, C.READ, { signal: AbortSignal.abort() }), { code: 'CANCELLED' });
  });

  it('a peripheral-initiated disconnect rejects pending and later calls, fires onDisconnect once', async () => {
    const l = await open();
    const reasons: string[] = [];
    l.onDisconnect((r) => reasons.push(r));
    const pending = l.write(SVC, C.DROP, Uint8Array.of(0));
    const queued = l.read(SVC, C.READ); // queued behind the pending write
    await assert.rejects(pending, { code: 'DISCONNECTED' });
    await assert.rejects(queued, { code: 'DISCONNECTED' });
    await assert.rejects(l.read(SVC, C.READ), { code: 'DISCONNECTED' });
    await assert.rejects(l.services(), { code: 'DISCONNECTED' });
    assert.deepEqual(reasons, ['peripheral dropped the link']);
    assert.deepEqual(fake.events.at(-1), 'disconnected peripheral dropped the link');
    await l.close(); // already gone: a no-op
  });

  it('close from the host disconnects without calling onDisconnect', async () => {
    const l = await open();
    let called = false;
    l.onDisconnect(() => {
      called = true;
    });
    await l.close();
    assert.equal(called, false);
    assert.match(fake.events.at(-1) ?? '', /^disconnected 22$/); // 0x16 local host
    await assert.rejects(l.read(SVC, C.READ), { code: 'DISCONNECTED' });
  });

  it('1000 write->notify round trips: p50 well under 1 ms', async () => {
    const l = await open();
    let wake: (() => void) | undefined;
    await l.subscribe(SVC, C.NOTIFY, () => wake?.());
    const times: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const t0 = performance.now();
      const notified = new Promise<void>((r) => {
        wake = r;
      });
      await l.write(SVC, C.WRITE, Uint8Array.of(i & 0xff, i >> 8));
      await notified;
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const p50 = times[500] ?? Number.NaN;
    const p99 = times[990] ?? Number.NaN;
    console.log(
      `      write->notify round trip over noble Path A: p50 ${p50.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms`,
    );
    assert.ok(p50 < 1, `p50 ${p50} ms`);
  });
});

describe('FidoBlePeripheral through noble Path A', () => {
  it('answers VERSION through BleTransport over connectGatt', async () => {
    const { peripheral } = emulatedChip();
    const noble = createNoble({ kind: 'bindings', bindings: new EmulatedBleBindings([peripheral]) });
    try {
      const [adv] = await scanFido(noble, { timeoutMs: 20 });
      assert.equal(adv?.address, peripheral.address);
      const link = await connectGatt(noble, peripheral.address, { timeoutMs: 1000 });
      const transport = await BleTransport.open(link, { timeoutMs: 2000 });
      try {
        const r = parseResponse(await transport.exchange(encodeVersion()));
        assert.equal(new TextDecoder().decode(r.data), 'U2F_V2');
        assert.equal(r.sw, SW.NO_ERROR);
      } finally {
        await transport.close();
        await link.close();
      }
    } finally {
      await stop(noble);
    }
  });
});
