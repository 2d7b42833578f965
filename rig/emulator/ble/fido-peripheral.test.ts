import assert from 'node:assert/strict';
import { emulatedChip, openChip } from '../../../test/support/fido-test-support.ts';
import { concat, fromHex, hex } from '../../bytes.ts';
import { GattError } from '../../transport/ble/connection.ts';
import { BLE_CMD, continuationFrame, initialFrame } from '../../transport/ble/fragments.ts';
import { UUID } from '../../transport/ble/gatt-uuids.ts';
import { connectDirect } from './direct-link.ts';
import { ATT_REVISION_REFUSED, SERVICE_DATA_PAIRING } from './fido-peripheral.ts';

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + 1) & 0xff);
const text = (data: Uint8Array) => new TextDecoder().decode(data);
const attCode = (code: number) => (e: unknown) => e instanceof GattError && e.attCode === code;
const FIDO = UUID.FIDO_SERVICE;

describe('FidoBlePeripheral (emulated MitID chip over BLE)', () => {
  describe('malformed frames answered per catalogue §2.4', () => {
    let chip: Awaited<ReturnType<typeof openChip>>;
    beforeEach(async () => {
      chip = await openChip();
    });
    afterEach(async () => chip.transport.close());

    /** Writes each frame raw and returns the first notification that follows. */
    const answerTo = async (...frames: Uint8Array[]) => {
      for (const frame of frames) await chip.transport.sendRaw(frame);
      const answer = await chip.transport.nextNotification(1000);
      assert.ok(answer, 'expected a notification');
      return hex(answer);
    };

    it('echoes an 8-byte PING (BLE-PING-01)', async () => {
      const ping = concat(fromHex('810008'), bytes(8));
      assert.equal(await answerTo(ping), hex(ping));
    });

    it('BLE-FRAG-01: a second initial fragment while one is open -> BF 00 01 04', async () => {
      const frame = initialFrame(BLE_CMD.MSG, 21, bytes(17)); // announces cpl+1 in a cpl-byte write
      assert.equal(await answerTo(frame, frame), 'bf000104');
    });

    it('BLE-FRAG-02: a continuation with SEQ 01 first -> BF 00 01 04', async () => {
      assert.equal(
        await answerTo(initialFrame(BLE_CMD.MSG, 20, bytes(17)), continuationFrame(1, bytes(3))),
        'bf000104',
      );
    });

    it('BLE-FRAG-03: a continuation with no frame open -> BF 00 01 04', async () => {
      assert.equal(await answerTo(continuationFrame(0, bytes(19))), 'bf000104');
    });

    it('BLE-FRAG-04: more data than announced -> BF 00 01 03', async () => {
      assert.equal(await answerTo(initialFrame(BLE_CMD.PING, 1, bytes(17))), 'bf000103');
    });

    it('a write longer than cpl, or a 2-byte initial fragment -> BF 00 01 03', async () => {
      assert.equal(await answerTo(initialFrame(BLE_CMD.PING, 18, bytes(18))), 'bf000103');
      assert.equal(await answerTo(fromHex('8100')), 'bf000103');
    });

    for (const cmd of [0x84, 0xa5, BLE_CMD.CANCEL, BLE_CMD.KEEPALIVE, BLE_CMD.ERROR, 0xff]) {
      it(`BLE-CMD-01: command 0x${cmd.toString(16)} -> BF 00 01 01`, async () => {
        assert.equal(await answerTo(initialFrame(cmd, 0)), 'bf000101');
      });
    }

    it('BLE-PING-03: a request above the chip limit -> BF 00 01 03', async () => {
      assert.equal(await answerTo(initialFrame(BLE_CMD.PING, 4097, bytes(17))), 'bf000103');
      assert.equal(hex(await chip.transport.ping(bytes(4096))), hex(bytes(4096)));
    });

    it('BLE-TMO-01: an initial fragment then silence -> BF 00 01 05, then the next frame is accepted', async () => {
      const started = performance.now();
      assert.equal(await answerTo(initialFrame(BLE_CMD.PING, 40, bytes(17))), 'bf000105');
      assert.ok(performance.now() - started >= 280, 'after requestTimeoutMs');
      assert.equal(hex(await chip.transport.ping(bytes(30))), hex(bytes(30)));
    });
  });

  it('reports fidoControlPointLength capped by the ATT MTU', async () => {
    const { peripheral } = emulatedChip({ controlPointLength: 100 });
    for (const [mtu, cpl] of [
      [23, 20],
      [50, 47],
      [517, 100],
    ] as const) {
      const link = connectDirect(peripheral, { mtu });
      assert.equal(hex(await link.read(FIDO, UUID.CONTROL_POINT_LENGTH)), cpl.toString(16).padStart(4, '0'));
      await link.close();
    }
    assert.throws(() => emulatedChip({ controlPointLength: 19 }), /controlPointLength/);
  });

  it('offers the GATT layout of BLE-GATT-01/02', async () => {
    const link = connectDirect(emulatedChip().peripheral);
    const services = await link.services();
    const props = (s: string, c: string) =>
      services.find((x) => x.uuid === s)?.characteristics.find((x) => x.uuid === c)?.properties;
    assert.deepEqual(props(FIDO, UUID.CONTROL_POINT), ['write', 'writeWithoutResponse']);
    assert.deepEqual(props(FIDO, UUID.STATUS), ['notify']);
    assert.deepEqual(props(FIDO, UUID.CONTROL_POINT_LENGTH), ['read']);
    assert.deepEqual(props(FIDO, UUID.SERVICE_REVISION_BITFIELD), ['read', 'write']);
    for (const c of [UUID.MANUFACTURER_NAME, UUID.MODEL_NUMBER, UUID.FIRMWARE_REVISION]) {
      assert.deepEqual(props(UUID.DEVICE_INFORMATION, c), ['read']);
    }
    await link.close();
  });

  it('serves DIS, 0x2A28 "1.0" and refuses DIS writes (BLE-GATT-02/04)', async () => {
    const chip = emulatedChip({ deviceInfo: { manufacturer: 'Nets', model: 'MitID chip', firmware: '2.1' } });
    const link = connectDirect(chip.peripheral);
    assert.equal(text(await link.read(UUID.DEVICE_INFORMATION, UUID.MANUFACTURER_NAME)), 'Nets');
    assert.equal(text(await link.read(UUID.DEVICE_INFORMATION, UUID.MODEL_NUMBER)), 'MitID chip');
    assert.equal(text(await link.read(UUID.DEVICE_INFORMATION, UUID.FIRMWARE_REVISION)), '2.1');
    assert.equal(text(await link.read(FIDO, UUID.SERVICE_REVISION)), '1.0');
    await assert.rejects(link.write(UUID.DEVICE_INFORMATION, UUID.MODEL_NUMBER, bytes(1)), attCode(0x03));
    await link.close();
  });

  it('reads and notifies the battery level', async () => {
    let level = 87.4;
    const chip = emulatedChip({ battery: () => level });
    const link = connectDirect(chip.peripheral);
    assert.equal(hex(await link.read(UUID.BATTERY_SERVICE, UUID.BATTERY_LEVEL)), '57');
    const seen: string[] = [];
    await link.subscribe(UUID.BATTERY_SERVICE, UUID.BATTERY_LEVEL, (d) => seen.push(hex(d)));
    level = 140;
    chip.peripheral.notifyBattery();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(seen, ['64']); // clamped to 100
    await link.close();
  });

  it('accepts exactly one supported revision bit (BLE-VER-02/03)', async () => {
    const chip = emulatedChip({ revisions: 0x80 });
    const link = connectDirect(chip.peripheral);
    const select = (v: string) => link.write(FIDO, UUID.SERVICE_REVISION_BITFIELD, fromHex(v));
    assert.equal(hex(await link.read(FIDO, UUID.SERVICE_REVISION_BITFIELD)), '80');
    for (const bad of ['40', '20', 'c0', '00', '8000', '']) {
      await assert.rejects(select(bad), attCode(ATT_REVISION_REFUSED), `bitfield ${bad}`);
    }
    await select('80');
    assert.equal(chip.peripheral.selectedRevision, 0x80);
    await link.close();
  });

  it('advertises FFFD with pairing flags only in pairing mode (BLE-ADV-01/02/03)', () => {
    const { peripheral } = emulatedChip();
    const normal = peripheral.advertising();
    assert.deepEqual(normal.serviceUuids, ['fffd']);
    assert.equal(normal.flags & 0x03, 0);
    assert.equal(normal.serviceData[0]!.data[0]! & SERVICE_DATA_PAIRING, 0);
    peripheral.pairingMode = true;
    const pairing = peripheral.advertising();
    assert.equal(pairing.flags & 0x02, 0x02);
    assert.equal(pairing.serviceData[0]!.data[0]! & SERVICE_DATA_PAIRING, SERVICE_DATA_PAIRING);
    assert.equal(pairing.localName, 'MitID chip');
  });

  it('notifies responses only while the central subscribes to fidoStatus', async () => {
    const chip = emulatedChip();
    const link = connectDirect(chip.peripheral);
    await link.write(FIDO, UUID.CONTROL_POINT, initialFrame(BLE_CMD.PING, 1, bytes(1)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const seen: string[] = [];
    await link.subscribe(FIDO, UUID.STATUS, (d) => seen.push(hex(d)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(seen, []);
    await link.write(FIDO, UUID.CONTROL_POINT, initialFrame(BLE_CMD.PING, 1, bytes(1)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(seen, ['81000101']);
    await link.close();
  });

  describe('faults (rig/emulator/faults.ts) and disputed answers', () => {
    let chip: Awaited<ReturnType<typeof openChip>> | undefined;
    afterEach(async () => chip?.transport.close());

    it('ble-cpl-10: fidoControlPointLength reads 000a; the chip still takes 20-byte fragments', async () => {
      chip = await openChip({ faults: { controlPointLengthReads: 10 } });
      assert.equal(hex(await chip.link.read(FIDO, UUID.CONTROL_POINT_LENGTH)), '000a');
      assert.equal(chip.transport.controlPointLength, 20);
      assert.match(chip.transport.setupFindings.join('; '), /reads 000a \(10\)/);
      assert.equal(hex(await chip.transport.ping(bytes(60))), hex(bytes(60)));
    });

    it('ble-revision-0: the bitfield reads 00; nothing is selected and the link works', async () => {
      chip = await openChip({ faults: { revisionBitfieldReads: 0 } });
      assert.equal(hex(await chip.link.read(FIDO, UUID.SERVICE_REVISION_BITFIELD)), '00');
      assert.equal(chip.transport.selectedRevision, undefined);
      assert.equal(chip.peripheral.selectedRevision, 0, 'no selection written');
      assert.match(chip.transport.setupFindings.join('; '), /reads 00, not at least 1 byte/);
      assert.equal(hex(await chip.transport.ping(bytes(4))), hex(bytes(4)));
    });

    for (const [name, faults, frame] of [
      ['ble-silent-unknown-cmd: an unknown command', { silentUnknownCommand: true }, initialFrame(0x84, 0)],
      [
        'ble-silent-stray-cont: a lone continuation',
        { silentStrayContinuation: true },
        continuationFrame(0, bytes(19)),
      ],
    ] as const) {
      it(`${name} gets no answer; the next PING still echoes`, async () => {
        chip = await openChip({ faults });
        await chip.transport.sendRaw(frame);
        assert.equal(await chip.transport.nextNotification(300), undefined);
        assert.equal(hex(await chip.transport.ping(bytes(8))), hex(bytes(8)));
      });
    }

    it('BLE-GATT-04 absent: no 0x2A28 (the revision bitfield stays)', async () => {
      chip = await openChip({ disputed: { serviceRevision: 'absent' } });
      const fido = (await chip.link.services()).find((s) => s.uuid === FIDO);
      const uuids = fido?.characteristics.map((c) => c.uuid) ?? [];
      assert.ok(!uuids.includes(UUID.SERVICE_REVISION), uuids.join(', '));
      assert.ok(uuids.includes(UUID.SERVICE_REVISION_BITFIELD), uuids.join(', '));
    });

    it('BLE-TMO-01 silent-reset: an abandoned request is dropped without a word', async () => {
      chip = await openChip({ disputed: { abandonedRequest: 'silent-reset' } });
      await chip.transport.sendRaw(initialFrame(BLE_CMD.PING, 40, bytes(17)));
      assert.equal(await chip.transport.nextNotification(600), undefined, 'past requestTimeoutMs (300 ms)');
      assert.equal(hex(await chip.transport.ping(bytes(30))), hex(bytes(30)), 'the request is gone');
    });
  });
});
