import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Characteristic, Noble, Peripheral } from '@stoprocent/noble';
import { hex } from '../../bytes.ts';
import { type HciPty, socatAvailable, startHciPty } from './hci-pty.ts';
import type { AdvertisingData, CentralSession, ServiceDef, VirtualPeripheral } from './peripheral.ts';

/**
 * noble's real HCI, GAP, ATT and GATT code (UART driver) against the emulated controller on
 * a socat pty: power-on, scan, connect, MTU, discovery, read, write, notifications, both
 * disconnect directions. Pending where socat is not installed.
 */
const READ = 'f1d0fff3deaaeceeb42fc9ba7ed623bb';
const WRITE = 'f1d0fff1deaaeceeb42fc9ba7ed623bb';
const NOTIFY = 'f1d0fff2deaaeceeb42fc9ba7ed623bb';
const REFUSE = '2a28';
const LONG_READ = '2a24';
const LONG_WRITE = '2a26';
const LONG = new Uint8Array(300).map((_, i) => i & 0xff);

class FakePeripheral implements VirtualPeripheral {
  readonly address = 'f1:d0:00:00:00:01';
  readonly maxMtu = 512;
  session: CentralSession | undefined;
  readonly events: string[] = [];
  readonly longWrites: string[] = [];

  advertising(): AdvertisingData {
    const serviceData = [{ uuid: 'fffd', data: Uint8Array.of(0x80) }];
    return { localName: 'chiprig-fake', serviceUuids: ['fffd'], serviceData, flags: 0x06, connectable: true };
  }

  services(): ServiceDef[] {
    return [
      {
        uuid: 'fffd',
        characteristics: [
          { uuid: READ, properties: ['read'], read: () => Uint8Array.of(0x00, 0x9b) },
          {
            uuid: WRITE,
            properties: ['write'],
            write: (data) => {
              this.session?.notify('fffd', NOTIFY, data); // echo
              return undefined;
            },
          },
          { uuid: NOTIFY, properties: ['notify'] },
          { uuid: REFUSE, properties: ['write'], write: () => 0x80 },
        ],
      },
      {
        uuid: '180f',
        characteristics: [
          { uuid: '2a19', properties: ['read'], read: () => Uint8Array.of(99) },
          { uuid: LONG_READ, properties: ['read'], read: () => LONG },
          { uuid: LONG_WRITE, properties: ['write'], write: (data) => void this.longWrites.push(hex(data)) },
        ],
      },
    ];
  }

  connect(session: CentralSession, mtu: number): void {
    this.session = session;
    this.events.push(`connect:${mtu}`);
  }

  disconnected(reason: string): void {
    this.session = undefined;
    this.events.push(`disconnected:${reason}`);
  }

  subscribed(service: string, characteristic: string, on: boolean): void {
    this.events.push(`subscribed:${service}:${characteristic}:${on}`);
  }
}

function p50(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Why this cannot run here, or undefined: socat and the optional noble must both be present. */
function unavailableReason(): string | undefined {
  if (!socatAvailable()) return 'socat not installed (apt-get install -y socat)';
  try {
    createRequire(import.meta.url).resolve('@stoprocent/noble');
  } catch {
    return '@stoprocent/noble (optional dependency) not installed';
  }
  return undefined;
}

describe('HCI controller: noble (UART HCI) on a socat pty', function () {
  this.timeout(15000);
  const unavailable = unavailableReason();
  if (unavailable) {
    it(`pending: ${unavailable}`);
    return;
  }
  const fake = new FakePeripheral();
  const path = join(tmpdir(), `chiprig-hci-${process.pid}`);
  let pty: HciPty | undefined;
  let noble: Noble | undefined;
  let device: Peripheral;
  const chars = new Map<string, Characteristic>();

  before(async () => {
    pty = await startHciPty(fake, { path });
    const require = createRequire(import.meta.url);
    const { withBindings } = require('@stoprocent/noble') as typeof import('@stoprocent/noble');
    noble = withBindings('hci', {
      hciDriver: 'uart',
      bindParams: { uart: { port: path, baudRate: 1000000 } },
    });
    await noble.waitForPoweredOnAsync(5000);
  });

  after(async () => {
    // noble first: a pty vanishing under it starts its UART reconnection loop.
    noble?.stop();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await pty?.stop();
  });

  it('powers on and reads the controller address', () => {
    assert.equal(noble!.state, 'poweredOn');
    assert.equal(noble!.address, 'c0:ff:ee:00:00:01');
  });

  it('discovers the peripheral by its FFFD service UUID with its service data', async () => {
    const discovered = once(noble!, 'discover') as Promise<[Peripheral]>;
    await noble!.startScanningAsync(['fffd'], false);
    [device] = await discovered;
    await noble!.stopScanningAsync();
    assert.equal(device.address, fake.address);
    assert.equal(device.connectable, true);
    assert.equal(device.advertisement.localName, 'chiprig-fake');
    assert.deepEqual(device.advertisement.serviceUuids, ['fffd']);
    assert.equal(device.advertisement.serviceData[0]?.uuid, 'fffd');
    assert.equal(hex(device.advertisement.serviceData[0]!.data), '80');
  });

  it('connects and exchanges the MTU (noble asks 256)', async () => {
    const mtu = once(device, 'mtu');
    await device.connectAsync();
    assert.deepEqual(await mtu, [256]);
    assert.deepEqual(fake.events, ['connect:256']);
  });

  it('discovers services and characteristics with their properties', async () => {
    const { services, characteristics } = await device.discoverAllServicesAndCharacteristicsAsync();
    assert.deepEqual(
      services.map((s) => s.uuid),
      ['fffd', '180f'],
    );
    for (const c of characteristics) chars.set(c.uuid, c);
    assert.deepEqual(chars.get(READ)?.properties, ['read']);
    assert.deepEqual(chars.get(WRITE)?.properties, ['write']);
    assert.deepEqual(chars.get(NOTIFY)?.properties, ['notify']);
    assert.deepEqual(chars.get('2a19')?.properties, ['read']);
    const descriptors = await chars.get(NOTIFY)!.discoverDescriptorsAsync();
    assert.deepEqual(
      descriptors.map((d) => d.uuid),
      ['2902'],
    );
  });

  it('reads characteristic values', async () => {
    assert.equal(hex(await chars.get(READ)!.readAsync()), '009b');
    assert.equal(hex(await chars.get('2a19')!.readAsync()), '63');
  });

  it('reads a long value (Read Blob) and writes one (Prepare/Execute Write over fragmented ACL)', async () => {
    assert.equal(hex(await chars.get(LONG_READ)!.readAsync()), hex(LONG));
    await chars.get(LONG_WRITE)!.writeAsync(Buffer.from(LONG), false);
    assert.deepEqual(fake.longWrites, [hex(LONG)]);
  });

  it('subscribes (CCCD write) and gets each write echoed as a notification; p50 logged', async () => {
    const notify = chars.get(NOTIFY)!;
    await notify.subscribeAsync();
    assert.deepEqual(fake.events.slice(-1), [`subscribed:fffd:${NOTIFY}:true`]);
    const samples: number[] = [];
    for (let i = 0; i < 200; i++) {
      const payload = Buffer.from([0x83, 0x00, 0x01, i]);
      const data = (once(notify, 'data') as Promise<[Buffer, boolean]>).then((args) => ({
        args,
        at: performance.now(),
      }));
      const start = performance.now();
      await chars.get(WRITE)!.writeAsync(payload, false);
      const { args, at } = await data;
      const [value, isNotification] = args;
      samples.push(at - start);
      assert.equal(hex(value), hex(payload));
      assert.equal(isNotification, true);
    }
    console.log(
      `      write->notification p50 ${p50(samples).toFixed(3)} ms, max ${Math.max(...samples).toFixed(3)} ms over ${samples.length}`,
    );
    await notify.unsubscribeAsync();
    assert.deepEqual(fake.events.slice(-1), [`subscribed:fffd:${NOTIFY}:false`]);
  });

  it('a refused write reaches noble as an ATT Error Response (no Write Response)', async () => {
    // noble's write callback ignores error responses: no 'write' event, the queue moves on.
    const refuse = chars.get(REFUSE)!;
    const wrote = new Promise<boolean>((resolve) => {
      refuse.once('write', () => resolve(true));
      setTimeout(() => resolve(false), 200);
    });
    refuse.write(Buffer.from([1]), false);
    assert.equal(await wrote, false);
    assert.equal(hex(await chars.get(READ)!.readAsync()), '009b'); // the link still answers
  });

  it('disconnects at the central: the peripheral hears it', async () => {
    await device.disconnectAsync();
    assert.deepEqual(fake.events.slice(-1), ['disconnected:central disconnected']);
  });

  it('reconnects, and a peripheral-initiated disconnect reaches noble (reason 0x13)', async () => {
    const mtu = once(device, 'mtu');
    await device.connectAsync();
    await mtu;
    const gone = once(device, 'disconnect') as Promise<[number]>;
    fake.session!.disconnect('test drops the link');
    assert.deepEqual(await gone, [0x13]);
    assert.deepEqual(fake.events.slice(-1), ['disconnected:test drops the link']);
  });
});
