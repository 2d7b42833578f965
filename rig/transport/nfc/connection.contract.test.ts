import assert from 'node:assert/strict';
import { hex } from '../../bytes.ts';
import { serveVpcd } from '../../emulator/vpcd-card.ts';
import { TransportError } from '../../errors.ts';
import { makeEmulator } from '../../station/emulated.ts';
import { loadStationFile } from '../../station/station-file.ts';
import type { CardConnection } from './connection.ts';
import { selectFido } from './iso7816.ts';
import { openPcscCard, pcscUnavailableReason } from './nfc-pcsc.ts';

/**
 * The CardConnection contract, run against both implementations: the emulator's
 * in-process reader, and nfc-pcsc through pcscd and vpcd (with the same emulated card
 * served to vpcd) where pcscd is up; elsewhere that half is pending and says why.
 */
const VERSION = Uint8Array.of(0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00);

const implementations: {
  name: string;
  open?: () => Promise<{ connection: CardConnection; done: () => Promise<void> }>;
  why?: string;
}[] = [
  {
    name: 'emulated in-process reader',
    open: async () => ({
      connection: makeEmulator(loadStationFile(), undefined).cardConnection(),
      done: async () => {},
    }),
  },
];
const down = pcscUnavailableReason();
if (down) implementations.push({ name: 'nfc-pcsc', why: down });
else {
  implementations.push({
    name: 'nfc-pcsc through pcscd and vpcd',
    open: async () => {
      const server = await serveVpcd(makeEmulator(loadStationFile(), undefined).nfcCard(), {});
      const connection = await openPcscCard('Virtual PCD 00 00', { timeoutMs: 5000 });
      return {
        connection,
        done: async () => {
          await connection.close();
          await server.close();
          await new Promise((r) => setTimeout(r, 600)); // let pcscd notice the removal
        },
      };
    },
  });
}

for (const impl of implementations) {
  describe(`CardConnection contract: ${impl.name}`, function () {
    this.timeout(20_000);
    if (!impl.open) {
      // Skipped with the reason printed, not a silent pending test.
      it('the contract on this implementation', function () {
        process.stdout.write(`      skipped: ${impl.why}\n`);
        this.skip();
      });
      return;
    }
    let link: { connection: CardConnection; done: () => Promise<void> };
    beforeEach(async () => {
      link = await impl.open!();
    });
    afterEach(async () => link.done());

    it('has a reader name and an ATR, and carries one C-APDU to one R-APDU', async () => {
      assert.ok(link.connection.reader.length > 0);
      assert.ok(link.connection.atr.length >= 2, `ATR ${hex(link.connection.atr)}`);
      assert.equal(hex(await link.connection.transmit(selectFido())), '5532465f56329000');
      assert.equal(hex(await link.connection.transmit(VERSION)), '5532465f56329000');
    });

    it('power cycle resets the card: it must be SELECTed again', async () => {
      await link.connection.transmit(selectFido());
      await link.connection.powerCycle!();
      const before = await link.connection.transmit(VERSION);
      assert.notEqual(
        hex(before.subarray(-2)),
        '9000',
        `VERSION after the field cycle answered ${hex(before)}`,
      );
      assert.equal(hex(await link.connection.transmit(selectFido())), '5532465f56329000');
    });

    it('close is idempotent, and afterwards transmit rejects DISCONNECTED', async () => {
      await link.connection.close();
      await link.connection.close();
      await assert.rejects(
        link.connection.transmit(selectFido()),
        (e: unknown) => e instanceof TransportError && e.code === 'DISCONNECTED',
      );
    });
  });
}
