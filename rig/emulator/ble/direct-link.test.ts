import assert from 'node:assert/strict';
import { hex } from '../../bytes.ts';
import { TransportError } from '../../errors.ts';
import { GattError } from '../../transport/ble/connection.ts';
import { ATT, connectDirect } from './direct-link.ts';
import type { CentralSession, ServiceDef, VirtualPeripheral } from './peripheral.ts';

/** A minimal peripheral recording what the link tells it. */
class Probe implements VirtualPeripheral {
  readonly address = 'C0:FF:EE:00:00:09';
  readonly maxMtu = 185;
  readonly events: string[] = [];
  readonly writes: string[] = [];
  session: CentralSession | undefined;
  advertising() {
    return { localName: 'probe', serviceUuids: ['abcd'], serviceData: [], flags: 4, connectable: true };
  }
  services(): ServiceDef[] {
    return [
      {
        uuid: 'ABCD',
        characteristics: [
          { uuid: '0001', properties: ['read'], read: () => Uint8Array.of(1, 2) },
          { uuid: '0002', properties: ['read'], read: () => 0x05 },
          {
            uuid: '0003',
            properties: ['write', 'writeWithoutResponse'],
            write: (data, wnr) => {
              this.writes.push(`${hex(data)}${wnr ? ' wnr' : ''}`);
              return data[0] === 0xee ? 0x80 : undefined;
            },
          },
          { uuid: '0004', properties: ['notify'] },
        ],
      },
    ];
  }
  connect(session: CentralSession, mtu: number) {
    this.session = session;
    this.events.push(`connect ${mtu}`);
  }
  disconnected(reason: string) {
    this.events.push(`disconnected ${reason}`);
  }
  subscribed(service: string, characteristic: string, on: boolean) {
    this.events.push(`subscribed ${service}/${characteristic} ${on}`);
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const attCode = (code: number) => (e: unknown) => e instanceof GattError && e.attCode === code;

describe('connectDirect (in-process GattLink)', () => {
  it('connects at min(mtu, maxMtu) and names the peripheral as noble does', async () => {
    const probe = new Probe();
    const link = connectDirect(probe, { mtu: 517 });
    assert.equal(link.mtu, 185);
    assert.deepEqual(probe.events, ['connect 185']);
    assert.equal(link.peripheral.id, 'c0ffee000009');
    assert.equal(link.peripheral.name, 'probe');
    assert.throws(() => connectDirect(probe, { mtu: 22 }), /mtu/);
  });

  it('reads, refuses by property, passes ATT errors and reports unknown attributes', async () => {
    const link = connectDirect(new Probe(), { mtu: 23 });
    assert.equal(hex(await link.read('abcd', '0001')), '0102');
    await assert.rejects(link.read('abcd', '0002'), attCode(0x05));
    await assert.rejects(link.read('abcd', '0003'), attCode(ATT.READ_NOT_PERMITTED));
    await assert.rejects(link.write('abcd', '0001', Uint8Array.of(1)), attCode(ATT.WRITE_NOT_PERMITTED));
    await assert.rejects(link.read('abcd', '0009'), attCode(ATT.ATTRIBUTE_NOT_FOUND));
    await assert.rejects(
      link.subscribe('abcd', '0001', () => undefined),
      attCode(ATT.REQUEST_NOT_SUPPORTED),
    );
  });

  it('limits write-without-response to MTU-3 and drops its refusals, as ATT does', async () => {
    const probe = new Probe();
    const link = connectDirect(probe, { mtu: 23 });
    await link.write('abcd', '0003', new Uint8Array(20), { withoutResponse: true });
    await assert.rejects(
      link.write('abcd', '0003', new Uint8Array(21), { withoutResponse: true }),
      attCode(ATT.INVALID_ATTRIBUTE_VALUE_LENGTH),
    );
    await link.write('abcd', '0003', new Uint8Array(100)); // a long write with response
    await link.write('abcd', '0003', Uint8Array.of(0xee), { withoutResponse: true });
    await assert.rejects(link.write('abcd', '0003', Uint8Array.of(0xee)), attCode(0x80));
    assert.equal(probe.writes.length, 4);
  });

  it('delivers notifications in order only while subscribed', async () => {
    const probe = new Probe();
    const link = connectDirect(probe, { mtu: 23 });
    const seen: string[] = [];
    probe.session!.notify('abcd', '0004', Uint8Array.of(0));
    const off = await link.subscribe('ABCD', '0004', (d) => seen.push(hex(d)));
    for (let i = 1; i <= 3; i++) probe.session!.notify('abcd', '0004', Uint8Array.of(i));
    await tick();
    await off();
    probe.session!.notify('abcd', '0004', Uint8Array.of(9));
    await tick();
    assert.deepEqual(seen, ['01', '02', '03']);
    assert.deepEqual(probe.events.slice(1), ['subscribed abcd/0004 true', 'subscribed abcd/0004 false']);
  });

  it('on a peripheral disconnect fires listeners once and rejects later calls', async () => {
    const probe = new Probe();
    const link = connectDirect(probe);
    const reasons: string[] = [];
    link.onDisconnect((r) => reasons.push(r));
    probe.session!.disconnect('bye');
    probe.session!.disconnect('again');
    await link.close();
    await tick();
    assert.deepEqual(reasons, ['bye']);
    assert.deepEqual(probe.events, ['connect 185', 'disconnected bye']);
    await assert.rejects(
      link.read('abcd', '0001'),
      (e: unknown) => e instanceof TransportError && e.code === 'DISCONNECTED',
    );
  });

  it('close tells the peripheral once', async () => {
    const probe = new Probe();
    const link = connectDirect(probe);
    await link.close();
    await link.close();
    assert.deepEqual(probe.events, ['connect 185', 'disconnected central closed the link']);
  });
});
