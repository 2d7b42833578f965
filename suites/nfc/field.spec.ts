import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { concat } from '../../rig/bytes.ts';
import { TransportError } from '../../rig/errors.ts';
import { packagePath } from '../../rig/paths.ts';
import { encodeExtended, SW, swName } from '../../rig/transport/nfc/apdu.ts';
import { isMovableCard, type MovableCard } from '../../rig/transport/nfc/connection.ts';
import { INS } from '../../rig/u2f/apdu.ts';
import { encodeRegister } from '../../rig/u2f/messages.ts';
import { area } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { authenticate, random32, register } from '../support/u2f.ts';

const station = await getStation();
const CROSSCHECK = packagePath('scripts/fido2-crosscheck.py');
const PYTHON = '/usr/bin/python3';

if (station.transports.includes('nfc')) {
  const u2f = await station.u2fOver('nfc');

  describe('NFC · field and presence', () => {
    const check = area(station, 'nfc', 'NFC field and presence');

    check(
      'NFC-FLD-01',
      'field off and on between REGISTER and AUTHENTICATE: handle valid, counter continues',
      async () => {
        const cred = await register(u2f);
        const before = (await authenticate(u2f, cred)).counter;
        await station.fieldCycle();
        const after = (await authenticate(u2f, cred)).counter; // the transport SELECTs again
        assert.ok(after > before, `counter after the field cycle ${after}, before ${before}`);
      },
      { severity: 'critical' },
    );

    check(
      'NFC-RIG-01',
      'the MitID rule: a button press while on the reader blocks NFC until the field cycles',
      async (ctx) => {
        const rule = station.profile.transports.nfc?.buttonBlocksNfc;
        if (rule === undefined) ctx.skip('the device profile says nothing about the button on NFC');
        if (station.presence.mode === 'auto') ctx.skip('presence mode auto: nothing can press the button');
        await register(u2f); // works with the tap alone
        await station.presence.request('a button press while the chip is on the reader');
        const r = await u2f.send(encodeRegister(random32(), random32()));
        ctx.observe(`REGISTER after the press answered ${swName(r.sw)}`);
        if (rule)
          assert.notEqual(r.sw, SW.NO_ERROR, 'the chip still registered over NFC after a button press');
        else assert.equal(r.sw, SW.NO_ERROR, 'the profile says a press does not block NFC');
        await station.fieldCycle();
        await register(u2f); // the block ends with the field
      },
      { severity: 'critical' },
    );

    check(
      'NFC-RIG-02',
      'card removed mid-APDU: the rig reports a link fault, and the next tap works',
      async (ctx) => {
        const card = await station.cardConnection();
        if (!isMovableCard(card))
          ctx.skip('taking the card away mid-APDU needs the emulated in-process reader (or a lab robot)');
        const movable = card as unknown as MovableCard;
        movable.delayMs = 50;
        const pending = u2f.send(
          encodeExtended({ ins: INS.REGISTER, p1: 0x03, data: concat(random32(), random32()), le: 65536 }),
        );
        setTimeout(() => movable.remove(), 10);
        const outcome = await pending.then(
          () => 'answered',
          (error: unknown) => error,
        );
        movable.delayMs = 0;
        movable.tap();
        assert.ok(outcome instanceof TransportError, `expected a link fault, got ${String(outcome)}`);
        assert.equal(outcome.code, 'DISCONNECTED', outcome.message);
        ctx.observe(`reported as: ${outcome.message}`);
        await register(u2f);
      },
    );

    check(
      'NFC-DEV-01',
      'an independent client (python-fido2 over PC/SC) registers and authenticates',
      async (ctx) => {
        const card = await station.cardConnection();
        if (!/Virtual PCD|PICC|ACR|Reader/i.test(card.reader) || isMovableCard(card)) {
          ctx.skip(
            `the card is not behind pcscd (reader "${card.reader}"): run with --device pcsc:… or the emulated-vpcd station`,
          );
        }
        if (!existsSync(PYTHON))
          ctx.skip(`${PYTHON} is missing (Debian's python3-fido2 and python3-pyscard run there)`);
        const result = await new Promise<{ code: number; out: string }>((resolve) => {
          execFile(PYTHON, [CROSSCHECK, card.reader], { timeout: 60_000 }, (error, stdout, stderr) => {
            resolve({
              code: error ? Number((error as { code?: number }).code ?? 1) : 0,
              out: `${stdout}${stderr}`,
            });
          });
        });
        // python-fido2 resets the card when it lets go: reopen our link before anything else.
        await station.resetLink('nfc');
        if (/No module named ['"]?(fido2|smartcard)/.test(result.out)) {
          ctx.skip(
            `python3-fido2 or python3-pyscard is not installed: ${result.out.trim().split('\n').pop()}`,
          );
        }
        ctx.observe(result.out.trim());
        assert.equal(result.code, 0, `python-fido2 cross-check failed: ${result.out.trim()}`);
        assert.match(result.out, /"ok": true/);
      },
      { timeoutMs: 90_000 },
    );
  });
}
