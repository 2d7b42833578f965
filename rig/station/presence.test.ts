import assert from 'node:assert/strict';
import { TransportError } from '../errors.ts';
import type { Transport } from '../transport/transport.ts';
import { encodeVersion } from '../u2f/messages.ts';
import { U2fClient } from '../u2f/u2f-client.ts';
import { PresenceController } from './presence.ts';

/** A device that answers 6985 until it has seen `approveAfter` requests, then 9000. */
function device(approveAfter: number): Transport & { calls: number } {
  return {
    kind: 'hid',
    calls: 0,
    async exchange() {
      this.calls++;
      return this.calls > approveAfter ? Uint8Array.of(0x90, 0x00) : Uint8Array.of(0x69, 0x85);
    },
    async close() {},
  };
}

describe('presence: actuator, prompt and auto', () => {
  it('actuator: presses once, then re-sends until the device approves', async () => {
    let presses = 0;
    const presence = new PresenceController({
      mode: 'actuator',
      actuator: { name: 'test', press: async () => void presses++ },
      timeoutMs: 1000,
      pollMs: 5,
    });
    const d = device(3);
    const r = await new U2fClient(d, presence).sendWithPresence(encodeVersion(), 'REGISTER');
    assert.equal(r.sw, 0x9000);
    assert.equal(presses, 1);
    assert.equal(d.calls, 4);
  });

  it('prompt: tells the operator what is waiting and for how long', async () => {
    const lines: string[] = [];
    const presence = new PresenceController({
      mode: 'prompt',
      timeoutMs: 1000,
      pollMs: 5,
      prompt: (t) => lines.push(t),
    });
    await new U2fClient(device(2), presence).sendWithPresence(encodeVersion(), 'AUTHENTICATE');
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /Touch the key's button now \(AUTHENTICATE is waiting, up to 1 s\)/);
  });

  it('times out with a reason that is a rig fault, not a device verdict', async () => {
    const presence = new PresenceController({ mode: 'auto', timeoutMs: 60, pollMs: 10 });
    const started = performance.now();
    await assert.rejects(
      new U2fClient(device(Number.POSITIVE_INFINITY), presence).sendWithPresence(encodeVersion(), 'REGISTER'),
      (e: unknown) =>
        e instanceof TransportError &&
        e.code === 'TIMEOUT' &&
        /no user presence within 60 ms for REGISTER/.test(e.message),
    );
    const waited = performance.now() - started;
    assert.ok(waited >= 55 && waited < 1000, `waited ${waited} ms`);
  });

  it('refuses actuator mode without an actuator', () => {
    assert.throws(
      () => new PresenceController({ mode: 'actuator', timeoutMs: 1, pollMs: 1 }),
      /needs a touch actuator/,
    );
  });
});
