import assert from 'node:assert/strict';
import fc from 'fast-check';
import { deviceText } from './untrusted.ts';

describe('untrusted: device-provided text', () => {
  it('escapes newlines, ANSI escapes and bidi overrides, and keeps ordinary text as it is', () => {
    assert.equal(deviceText('MitID chip'), 'MitID chip');
    assert.equal(deviceText('Yubico YubiKey OTP+FIDO+CCID'), 'Yubico YubiKey OTP+FIDO+CCID');
    assert.equal(deviceText('evil\nstatus=passed'), 'evil\\u{a}status=passed');
    assert.equal(deviceText('\u001b[2J\u001b[32mPASS'), '\\u{1b}[2J\\u{1b}[32mPASS');
    assert.equal(deviceText('abc\u202Efdp.exe'), 'abc\\u{202e}fdp.exe');
    assert.equal(deviceText('Søren Æbleø ✓'), 'Søren Æbleø ✓');
  });

  it('cuts very long text and says how long it was', () => {
    assert.equal(deviceText('x'.repeat(500), 10), 'xxxxxxxxxx… (500 characters)');
  });

  it('never lets a control character through, whatever the device sends', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        assert.doesNotMatch(deviceText(s), /[\p{Cc}\p{Cf}]/u);
      }),
      { numRuns: 2000 },
    );
  });
});
