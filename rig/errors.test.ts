import assert from 'node:assert/strict';
import {
  ConfigError,
  CtapHidError,
  deviceFault,
  isDeviceFailure,
  StatusWordError,
  TransportError,
} from './errors.ts';

describe('error outcomes', () => {
  it('grades device answers as failures and rig faults as broken', () => {
    assert.ok(isDeviceFailure(deviceFault('bad reserved byte')));
    assert.ok(isDeviceFailure(new StatusWordError(0x6a80, Uint8Array.of(0x6a, 0x80), 'REGISTER', 0x9000)));
    assert.ok(isDeviceFailure(new assert.AssertionError({ message: 'x' })));
    assert.ok(!isDeviceFailure(new TransportError('TIMEOUT', 'no response')));
    assert.ok(!isDeviceFailure(new CtapHidError(6)));
    assert.ok(!isDeviceFailure(new ConfigError('bad field')));
    assert.ok(!isDeviceFailure(new Error('plain')));
  });

  it('keeps the status word and the bytes on a StatusWordError', () => {
    const e = new StatusWordError(0x6985, Uint8Array.of(0x69, 0x85), 'AUTHENTICATE: expected 9000', 0x9000);
    assert.equal(e.sw, 0x6985);
    assert.deepEqual([...e.response], [0x69, 0x85]);
    assert.equal(e.actual, '6985');
    assert.equal(e.expected, '9000');
  });

  it('keeps unknown CTAPHID error codes', () => {
    assert.equal(new CtapHidError(0x42).errorCode, 0x42);
    assert.match(new CtapHidError(0x42).message, /0x42/);
  });
});
