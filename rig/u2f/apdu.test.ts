import assert from 'node:assert/strict';
import { hex } from '../bytes.ts';
import { encodeLegacyVersion } from './apdu.ts';

describe('u2f/apdu', () => {
  it('encodeLegacyVersion is 00 03 00 00 00 00 00 00 00 (U2F-VER-02)', () => {
    assert.equal(hex(encodeLegacyVersion()), '000300000000000000');
  });
});
