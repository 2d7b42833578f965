import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fromHex, hex } from '../../bytes.ts';
import { serveVpcd, type VpcdServer } from '../../emulator/vpcd-card.ts';
import { TransportError } from '../../errors.ts';
import type { CardConnection, VirtualCard } from './connection.ts';
import { listReaders, openPcscCard, pcscUnavailableReason } from './nfc-pcsc.ts';

/**
 * Integration: nfc-pcsc -> pcscd -> vpcd -> serveVpcd -> a tiny card in this process.
 * Runs only where pcscd and vsmartcard-vpcd are up (scripts/pcscd-start.sh).
 */
const U2F_AID = fromHex('a0000006472f0001');

/** Answers SELECT of the U2F AID with "U2F_V2"; echoes other APDUs only while selected. */
class EchoCard implements VirtualCard {
  readonly atr = fromHex('3b 80 80 01 01');
  readonly events: string[] = [];
  selected = false;
  /** Called inside process(), before the answer goes out: lets a test pull the card mid-APDU. */
  onApdu: ((apdu: Uint8Array) => void) | undefined;
  powerOn(): void {
    this.events.push('on');
    this.selected = false;
  }
  powerOff(): void {
    this.events.push('off');
    this.selected = false;
  }
  reset(): void {
    this.events.push('reset');
    this.selected = false;
  }
  process(apdu: Uint8Array): Uint8Array {
    this.onApdu?.(apdu);
    if (apdu[1] === 0xa4 && hex(apdu.subarray(5, 5 + (apdu[4] ?? 0))) === hex(U2F_AID)) {
      this.selected = true;
      return fromHex('5532465f5632 9000');
    }
    if (!this.selected) return fromHex('6985');
    return Uint8Array.from([...apdu, 0x90, 0x00]);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const SELECT = fromHex('00a4040008a0000006472f0001');
const unavailable =
  pcscUnavailableReason() ??
  (existsSync('/etc/reader.conf.d/vpcd') ? undefined : 'vsmartcard-vpcd is not installed');

// Both clients of pcscd: chiprig's own on its socket (the default), and libpcsclite under nfc-pcsc.
for (const client of ['socket', 'library'] as const)
  describe(`nfc-pcsc adapter through pcscd and vpcd, APDUs by the ${client} client (integration)`, function () {
    if (unavailable) {
      it('needs pcscd with the vpcd reader', function () {
        process.stdout.write(`      skipped: ${unavailable}\n`);
        this.skip();
      });
      return;
    }
    this.timeout(15000);
    let card: EchoCard;
    let served: VpcdServer | undefined;
    let conn: CardConnection | undefined;

    beforeEach(async () => {
      card = new EchoCard();
      served = await serveVpcd(card);
    });

    afterEach(async () => {
      await conn?.close();
      conn = undefined;
      await served?.close();
      // pcscd notices a removal on its next poll; let it, so the next tap is a fresh insertion.
      await sleep(500);
    });

    // The reader list and its errors are nfc-pcsc's whichever client exchanges APDUs.
    if (client === 'socket') {
      it('listReaders shows "Virtual PCD 00 00" with the card and its ATR', async () => {
        const readers = await listReaders({ timeoutMs: 1500 });
        const vpcd = readers.find((r) => r.name === 'Virtual PCD 00 00');
        assert.ok(vpcd, `readers seen: ${readers.map((r) => r.name).join(', ')}`);
        assert.equal(vpcd.cardPresent, true);
        assert.equal(hex(vpcd.atr ?? new Uint8Array()), '3b80800101');
      });
    }

    it('openPcscCard transmits APDUs to the served card', async () => {
      conn = await openPcscCard('virtual pcd', { timeoutMs: 5000, client });
      assert.equal(conn.reader, 'Virtual PCD 00 00');
      assert.equal(hex(conn.atr), '3b80800101');
      assert.equal(conn.extendedApdus, true);
      assert.equal(hex(await conn.transmit(SELECT)), '5532465f56329000');
      assert.equal(hex(await conn.transmit(fromHex('00010203'))), '000102039000');
      // An extended-length answer crosses PC/SC intact (vpcd carries any length).
      const long = new Uint8Array(1000).fill(0x5a);
      const echoed = await conn.transmit(
        Uint8Array.from([0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0xe8, ...long]),
      );
      assert.equal(echoed.length, 1007 + 2);
    });

    it('powerCycle reaches the card as power off then on, and the card must be selected again', async () => {
      conn = await openPcscCard('Virtual PCD', { timeoutMs: 5000, client });
      await conn.transmit(SELECT);
      card.events.length = 0;
      await conn.powerCycle!();
      assert.deepEqual(card.events.slice(0, 2), ['off', 'on']);
      assert.equal(hex(await conn.transmit(fromHex('00010203'))), '6985');
      assert.equal(hex(await conn.transmit(SELECT)), '5532465f56329000');
    });

    it('removal rejects later transmits with DISCONNECTED within ~1 s', async () => {
      conn = await openPcscCard('Virtual PCD', { timeoutMs: 5000, client });
      await conn.transmit(SELECT);
      await served!.close();
      const removedAt = Date.now();
      // Without an APDU, only pcscd's poll reveals the removal: wait for nfc-pcsc's card.off.
      await sleep(1000);
      await assert.rejects(conn.transmit(SELECT), (error: unknown) => {
        assert.ok(error instanceof TransportError);
        assert.equal(error.code, 'DISCONNECTED');
        assert.match(error.message, /taken out of the field/);
        return true;
      });
      assert.ok(Date.now() - removedAt < 1500);
    });

    it('removal during a transmit rejects it with DISCONNECTED at once', async () => {
      conn = await openPcscCard('Virtual PCD', { timeoutMs: 5000, client });
      await conn.transmit(SELECT);
      card.onApdu = () => void served!.close();
      const started = Date.now();
      await assert.rejects(conn.transmit(fromHex('00010203')), (error: unknown) => {
        assert.ok(error instanceof TransportError);
        assert.equal(error.code, 'DISCONNECTED');
        return true;
      });
      assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
    });

    // The reader list and its errors are nfc-pcsc's whichever client exchanges APDUs.
    if (client === 'socket') {
      it('an absent reader gives NOT_FOUND quickly, naming the readers seen', async () => {
        const started = Date.now();
        await assert.rejects(openPcscCard('No Such Reader', { timeoutMs: 500 }), (error: unknown) => {
          assert.ok(error instanceof TransportError);
          assert.equal(error.code, 'NOT_FOUND');
          assert.match(error.message, /"Virtual PCD 00 00" \(card present\)/);
          assert.match(error.message, /"Virtual PCD 00 01" \(no card\)/);
          return true;
        });
        assert.ok(Date.now() - started < 1500);
      });
    }
  });
