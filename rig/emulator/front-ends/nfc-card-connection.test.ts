import assert from 'node:assert/strict';
import { fromHex, hex } from '../../bytes.ts';
import { TransportError } from '../../errors.ts';
import { selectFido } from '../../transport/nfc/iso7816.ts';
import { EmulatedCardConnection, NfcFrontEnd } from './nfc.ts';

const VERSION_OK = '5532465f56329000';
const versionCore = () => fromHex(VERSION_OK);

function rejectsWith(code: string) {
  return (error: unknown) => error instanceof TransportError && error.code === code;
}

describe('EmulatedCardConnection (in-process reader)', () => {
  let connection: EmulatedCardConnection;
  afterEach(() => connection?.close());

  const open = (options = {}) => {
    connection = new EmulatedCardConnection(new NfcFrontEnd({ core: versionCore }), options);
    return connection;
  };

  it('taps the card at construction and shows the reader, ATR and extended support', async () => {
    const c = open();
    assert.equal(c.reader, 'chiprig emulated reader');
    assert.equal(c.extendedApdus, true);
    assert.equal(hex(c.atr), '3b80800101');
    assert.equal(c.present, true);
    assert.equal(hex(await c.transmit(selectFido())), VERSION_OK);
    assert.equal(hex(await c.transmit(fromHex('0003000000'))), VERSION_OK);
  });

  it('powerCycle resets the card: SELECT is needed again', async () => {
    const c = open();
    await c.transmit(selectFido());
    await c.powerCycle();
    assert.equal(hex(await c.transmit(fromHex('0003000000'))), '6d00');
  });

  it('remove() rejects the transmit in flight and later ones with DISCONNECTED; tap() brings the card back', async () => {
    const c = open({ delayMs: 30 });
    const inFlight = c.transmit(selectFido());
    c.remove();
    await assert.rejects(inFlight, rejectsWith('DISCONNECTED'));
    await assert.rejects(c.transmit(selectFido()), rejectsWith('DISCONNECTED'));
    await assert.rejects(c.powerCycle(), rejectsWith('DISCONNECTED'));
    c.tap();
    assert.equal(hex(await c.transmit(selectFido())), VERSION_OK);
  });

  it('a removal and re-tap during an APDU still loses that APDU', async () => {
    const c = open({ delayMs: 30 });
    const inFlight = c.transmit(selectFido());
    c.remove();
    c.tap();
    await assert.rejects(inFlight, rejectsWith('DISCONNECTED'));
  });

  it('rejects TIMEOUT when the card takes longer than the deadline', async () => {
    const c = open({ delayMs: 100 });
    await assert.rejects(c.transmit(selectFido(), { timeoutMs: 20 }), rejectsWith('TIMEOUT'));
    c.delayMs = 0;
    assert.equal(hex(await c.transmit(selectFido())), VERSION_OK);
  });

  it('checks its inputs; close is idempotent and ends the link', async () => {
    const c = open();
    assert.throws(() => new EmulatedCardConnection({} as NfcFrontEnd), /card: not a VirtualCard/);
    await assert.rejects(c.transmit('00' as unknown as Uint8Array), /apdu: must be a Uint8Array/);
    await c.close();
    await c.close();
    await assert.rejects(c.transmit(selectFido()), rejectsWith('DISCONNECTED'));
    assert.throws(() => c.tap(), rejectsWith('DISCONNECTED'));
  });
});
