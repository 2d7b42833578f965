import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { hex } from '../../bytes.ts';
import { TransportError } from '../../errors.ts';
import { parseDeviceSpec } from '../../station/device-spec.ts';
import { Station } from '../../station/station.ts';
import type { HidConnection } from './connection.ts';
import { BROADCAST_CID, CTAPHID, initPacket, parsePacket } from './framing.ts';
import { openNodeHid } from './node-hid.ts';

/**
 * The HidConnection contract, run against both implementations: the emulated chip's
 * front-end always, and node-hid when a key is attached and named in CHIPRIG_CONTRACT_HID
 * (e.g. CHIPRIG_CONTRACT_HID=hid:1050:0407). Without one, the real half is pending and
 * says why.
 */
const implementations: { name: string; open?: () => Promise<HidConnection>; why?: string }[] = [
  {
    name: 'emulated chip (front-ends/hid.ts)',
    open: async () => {
      const station = await Station.open();
      const connection = (await station.hid()).connection;
      return connection;
    },
  },
  process.env.CHIPRIG_CONTRACT_HID
    ? {
        name: `node-hid (${process.env.CHIPRIG_CONTRACT_HID})`,
        open: async () => {
          const spec = parseDeviceSpec(process.env.CHIPRIG_CONTRACT_HID!, 'CHIPRIG_CONTRACT_HID');
          if (spec.kind === 'hid') return openNodeHid(spec, spec.text);
          if (spec.kind === 'hid-path') return openNodeHid({ path: spec.path }, spec.text);
          throw new Error('CHIPRIG_CONTRACT_HID must name a hid: device');
        },
      }
    : {
        name: 'node-hid',
        why: 'no FIDO key named in CHIPRIG_CONTRACT_HID (e.g. hid:1050:0407), so the real adapter is not exercised here',
      },
];

for (const impl of implementations) {
  describe(`HidConnection contract: ${impl.name}`, () => {
    if (!impl.open) {
      // Skipped with the reason printed, not a silent pending test.
      it('the contract on this implementation', function () {
        process.stdout.write(`      skipped: ${impl.why}\n`);
        this.skip();
      });
      return;
    }
    let connection: HidConnection;
    beforeEach(async () => {
      connection = await impl.open!();
      while (await connection.read(20)) {
        // drain anything left from a previous case
      }
    });
    afterEach(async () => connection.close());

    it('carries a 64-byte report each way: broadcast INIT is answered with the nonce', async () => {
      const nonce = Uint8Array.from(randomBytes(8));
      await connection.write(initPacket(BROADCAST_CID, CTAPHID.INIT, 8, nonce));
      let answer: Uint8Array | undefined;
      for (let i = 0; i < 10; i++) {
        const report = await connection.read(1000);
        assert.ok(report, 'no answer to INIT within 1 s');
        const p = parsePacket(report);
        if (p.kind === 'init' && p.cmd === CTAPHID.INIT && hex(p.data.subarray(0, 8)) === hex(nonce)) {
          answer = report;
          break;
        }
      }
      assert.ok(answer, 'INIT answer with our nonce never arrived');
      assert.equal(answer.length, 64);
    });

    it('read resolves undefined when nothing arrives within the timeout', async () => {
      const started = performance.now();
      assert.equal(await connection.read(150), undefined);
      const waited = performance.now() - started;
      assert.ok(waited >= 140 && waited < 1000, `read(150) returned after ${waited.toFixed(0)} ms`);
    });

    it('refuses reports that are not 64 bytes, naming the parameter', async () => {
      await assert.rejects(connection.write(new Uint8Array(65)), /report/);
    });

    it('close is idempotent, and afterwards read and write reject DISCONNECTED', async () => {
      await connection.close();
      await connection.close();
      await assert.rejects(
        connection.read(10),
        (e: unknown) => e instanceof TransportError && e.code === 'DISCONNECTED',
      );
      await assert.rejects(
        connection.write(new Uint8Array(64)),
        (e: unknown) => e instanceof TransportError && e.code === 'DISCONNECTED',
      );
    });
  });
}
