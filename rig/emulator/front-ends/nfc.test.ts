import assert from 'node:assert/strict';
import { concat, fromHex, hex } from '../../bytes.ts';
import { parseCommandApdu } from '../../transport/nfc/apdu.ts';
import { selectFido } from '../../transport/nfc/iso7816.ts';
import { PresenceSource } from '../presence.ts';
import { NfcFrontEnd, type NfcFrontEndOptions } from './nfc.ts';

const OK = '9000';
const U2F_V2 = '5532465f5632';
/** n bytes 00 01 02 … (mod 256), so a lost or reordered chunk shows. */
const pattern = (n: number) => new Uint8Array(n).map((_, i) => i & 0xff);

/**
 * The fake core: VERSION answers U2F_V2; INS 01 answers `p1 * 100` pattern bytes; INS 02
 * echoes its data. It records every APDU and whether presence was there.
 */
function fakeCore() {
  const calls: { apdu: string; present: boolean }[] = [];
  const core: NfcFrontEndOptions['core'] = (apdu, presence) => {
    calls.push({ apdu: hex(apdu), present: presence.present });
    const parsed = parseCommandApdu(apdu);
    if (!parsed.ok) return fromHex(parsed.sw.toString(16));
    const { ins, p1, data } = parsed.apdu;
    if (ins === 0x03) return fromHex(U2F_V2 + OK);
    if (ins === 0x01) return concat(pattern(p1 * 100), fromHex(OK));
    if (ins === 0x02) return concat(data, fromHex(OK));
    return fromHex('6d00');
  };
  return { calls, core };
}

function card(options: Partial<NfcFrontEndOptions> = {}) {
  const { calls, core } = fakeCore();
  const button = new PresenceSource();
  const c = new NfcFrontEnd({ core, button, ...options });
  c.powerOn();
  const send = (apdu: string | Uint8Array) => hex(c.process(typeof apdu === 'string' ? fromHex(apdu) : apdu));
  return { card: c, calls, button, send };
}

function selected(options: Partial<NfcFrontEndOptions> = {}) {
  const c = card(options);
  assert.equal(c.send(selectFido()), U2F_V2 + OK);
  return c;
}

describe('NfcFrontEnd (emulated contactless MitID chip)', () => {
  it('has the default ATR and answers 6985 while unpowered', () => {
    const { core } = fakeCore();
    const c = new NfcFrontEnd({ core });
    assert.equal(hex(c.atr), '3b80800101');
    assert.equal(hex(c.process(selectFido())), '6985');
    assert.throws(() => new NfcFrontEnd({} as NfcFrontEndOptions), /options\.core/);
  });

  it('NFC-SEL-01/02/03/06: SELECT with Le, without Le, and with Lc 09 answers U2F_V2 9000 directly', () => {
    const { send } = card();
    assert.equal(send('00a4040008a0000006472f000100'), U2F_V2 + OK);
    assert.equal(send('00a4040008a0000006472f0001'), U2F_V2 + OK);
    assert.equal(send('00a4040009a0000006472f00010000'), U2F_V2 + OK);
    assert.equal(
      send('00a4040008a0000006472f000101'),
      U2F_V2 + OK,
      'Le 01: still the whole 6 bytes, never 61xx',
    );
  });

  it('NFC-SEL-05: U2F commands before SELECT answer 6D00 and never reach the core', () => {
    const { send, calls, card: c } = card();
    assert.equal(send('0003000000'), '6d00');
    assert.equal(send('00030000000000'), '6d00');
    assert.equal(calls.length, 0);
    assert.equal(c.selected, false);
  });

  it('NFC-SEL-04: a wrong AID answers 6A82 and changes no FIDO state', () => {
    const fresh = card();
    assert.equal(fresh.send('00a4040007a0000000031010'), '6a82');
    assert.equal(fresh.send('0003000000'), '6d00', 'still not selected');
    const s = selected();
    s.send('0001010000'); // 100-byte answer, Le 256: no pending
    assert.equal(s.send('00a4040007a0000000031010'), '6a82');
    assert.equal(s.send('0003000000'), U2F_V2 + OK, 'FIDO applet still selected');
  });

  it('NFC-CTAP-01: the CTAP2 probe answers 6D00 and U2F works afterwards without re-SELECT', () => {
    const { send, calls } = selected();
    assert.equal(send('80108000010400'), '6d00');
    assert.equal(send('80118000'), '6d00');
    assert.equal(calls.length, 0);
    assert.equal(send('0003000000'), U2F_V2 + OK);
  });

  it('NFC-CHAIN-01: intermediate blocks answer 9000; the core gets one extended APDU', () => {
    const { send, calls } = selected();
    const data = pattern(70);
    assert.equal(send(concat(fromHex('1002030020'), data.subarray(0, 32))), OK);
    assert.equal(send(concat(fromHex('1002030020'), data.subarray(32, 64))), OK);
    assert.equal(calls.length, 0, 'nothing reaches the core before the last block');
    assert.equal(send(concat(fromHex('0002030006'), data.subarray(64), fromHex('00'))), hex(data) + OK);
    assert.deepEqual(
      calls.map((c) => c.apdu),
      [`00020300000046${hex(data)}0000`],
    );
  });

  it('NFC-CHAIN-01: a block with another header answers 6883 and drops the chain', () => {
    const { send, calls } = selected();
    assert.equal(send('1002030002aabb'), OK);
    assert.equal(send('0002070002ccdd00'), '6883');
    assert.equal(send('0002030002ccdd00'), `ccdd${OK}`, 'the chain is gone: a plain command');
    assert.equal(send('1002030002aabb'), OK);
    assert.equal(send('1002070002aabb'), '6883');
    assert.equal(calls.length, 1);
  });

  it('NFC-REG-01: a short answer over 256 bytes goes 256 + 61xx, then GET RESPONSE Le 00', () => {
    const { send } = selected();
    const answer = hex(pattern(300));
    assert.equal(send('0001030000'), `${answer.slice(0, 512)}612c`);
    assert.equal(send('00c0000000'), answer.slice(512) + OK);
    assert.equal(send('00c0000000'), '6985', 'nothing left to get');
  });

  it('NFC-REG-02 / NFC-CHAIN-02: Le 64 blocks honour each GET RESPONSE Le; 61 00 when 256+ remain', () => {
    const { send } = selected();
    const answer = hex(pattern(600));
    assert.equal(send('0001060064'), `${answer.slice(0, 200)}6100`, '500 left: SW2 00');
    assert.equal(send('00c0000064'), `${answer.slice(200, 400)}6100`, '400 left');
    assert.equal(send('00c00000ff'), `${answer.slice(400, 910)}6191`, '145 left');
    assert.equal(send('00c0000000'), answer.slice(910) + OK, 'Le 00 (256) with fewer left: the rest');
  });

  it('NFC-REG-02: SW2 counts the bytes still owed; a GET RESPONSE Le = SW2 finishes', () => {
    const { send } = selected();
    const answer = hex(pattern(300));
    assert.equal(send('0001030064'), `${answer.slice(0, 200)}61c8`);
    assert.equal(send('00c0000064'), `${answer.slice(200, 400)}6164`);
    assert.equal(send('00c0000064'), answer.slice(400) + OK);
  });

  it('NFC-REG-03: an extended request gets the whole answer in one R-APDU', () => {
    const { send } = selected();
    assert.equal(send('00010600000000'), hex(pattern(600)) + OK);
  });

  it('NFC-CHAIN-03: a new command abandons a pending answer', () => {
    const { send } = selected();
    assert.match(send('0001030000'), /612c$/);
    assert.equal(send('0003000000'), U2F_V2 + OK);
    assert.equal(send('00c0000000'), '6985');
  });

  it('U2F-AUTH-14: presence is the tap; a button press in the field blocks NFC until the field cycles', () => {
    const { send, calls, button, card: c } = selected();
    send('0003000000');
    assert.equal(calls[0]!.present, true, 'no button needed on NFC');
    button.press();
    assert.equal(c.blocked, true);
    for (const apdu of ['00a4040008a0000006472f000100', '0003000000', '00c0000000', '80108000010400']) {
      assert.equal(send(apdu), '6985', apdu);
    }
    c.reset();
    assert.equal(send(selectFido()), '6985', 'a warm reset does not lift the block');
    c.powerOff();
    c.powerOn();
    assert.equal(send(selectFido()), U2F_V2 + OK);
    assert.equal(calls.length, 1);
  });

  it('a press while unpowered does not block; dispose() stops listening', () => {
    const { button, card: c, send } = card();
    c.powerOff();
    button.press();
    c.powerOn();
    assert.equal(send(selectFido()), U2F_V2 + OK);
    c.dispose();
    button.press();
    assert.equal(c.blocked, false);
  });

  it('never throws for card-side input (random bytes, short headers, a throwing core)', () => {
    const { card: c } = selected();
    for (let i = 0; i < 2000; i++) {
      const apdu = pattern(i % 300).map(() => Math.floor(Math.random() * 256));
      const answer = c.process(apdu);
      assert.ok(answer.length >= 2);
    }
    assert.equal(hex(c.process(fromHex('00'))), '6700');
    assert.equal(hex(c.process(undefined as unknown as Uint8Array)), '6700');
    const broken = selected({
      core: () => {
        throw new Error('core bug');
      },
    });
    assert.equal(broken.send('0003000000'), '6f00');
  });
});
