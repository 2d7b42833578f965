import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import { FAULTS, LINK_FAULTS, parseFault } from './faults.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('emulator faults', () => {
  it('there are at least 25 device faults, each naming the cases that must catch it', () => {
    const names = Object.keys(FAULTS);
    assert.ok(names.length >= 25, `${names.length} device faults`);
    for (const [name, f] of Object.entries(FAULTS)) {
      assert.ok(f.caughtBy.length > 0, `${name} names no case`);
      for (const id of f.caughtBy) assert.match(id, /^(U2F|HID|NFC|BLE|SEC|PERF|ENV)-[A-Z0-9-]+$/, name);
    }
  });

  it('the README lists every fault, device and link', () => {
    for (const name of [...Object.keys(FAULTS), ...Object.keys(LINK_FAULTS)]) {
      assert.ok(
        README.includes(`\`${name}\``) || README.includes(`emulator:${name}`),
        `${name} is not in the README`,
      );
    }
  });

  it('an unknown fault is a configuration error that lists the known ones', () => {
    assert.throws(
      () => parseFault('flaky', '--device'),
      (e) => e instanceof ConfigError && /known: counter-frozen/.test(e.message),
    );
  });
});
