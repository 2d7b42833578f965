import assert from 'node:assert/strict';
import { fromHex, hex } from '../../rig/bytes.ts';
import { hostRandomBytes, hostRandomInt } from '../../rig/random.ts';
import type { BleTransport } from '../../rig/transport/ble/ble-transport.ts';
import {
  BLE_CMD,
  BLE_ERR,
  continuationFrame,
  fragment,
  initialFrame,
} from '../../rig/transport/ble/fragments.ts';
import { encodeRegister } from '../../rig/u2f/messages.ts';
import {
  assertEcho,
  assertErrorFrame,
  assertPingWorks,
  drainQuiet,
  fragmentAt,
  framesHex,
  type RawResponse,
  rawCall,
  rawCallPressing,
} from '../support/ble.ts';
import { area } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { random32 } from '../support/u2f.ts';

const station = await getStation();
const bytes = (n: number) => hostRandomBytes(n);
const isError = (r: RawResponse, code: number) => r.cmd === BLE_CMD.ERROR && r.data[0] === code;

/** The transport, with nothing left over on fidoStatus from an earlier case. */
const idle = async (): Promise<BleTransport> => {
  const ble = await station.ble();
  await drainQuiet(ble, 50);
  return ble;
};

/** Sends one malformed frame sequence, expects ERROR(code), leaves the device idle. */
async function expectError(frames: Uint8Array[], code: number, requirement: string, timeoutMs = 5000) {
  const ble = await idle();
  const response = await rawCall(ble, frames, { timeoutMs, what: requirement });
  const after = await drainQuiet(ble);
  assertErrorFrame(response, code, `${requirement} (sent ${framesHex(frames)})`);
  assert.equal(after.length, 0, `${requirement}: more frames after the ERROR: ${framesHex(after)}`);
  await assertPingWorks(ble, requirement);
}

if (station.transports.includes('ble')) {
  describe('Bluetooth LE · PING and commands', () => {
    const check = area(station, 'ble', 'BLE PING');

    check(
      'BLE-PING-01',
      'PING of 8 random bytes echoes the same frame',
      async () => {
        const ble = await idle();
        const frame = initialFrame(BLE_CMD.PING, 8, bytes(8));
        const response = await rawCall(ble, [frame], { what: 'BLE-PING-01' });
        assert.equal(framesHex(response.frames), hex(frame), `BLE-PING-01: sent ${hex(frame)}`);
      },
      { severity: 'blocker' },
    );

    check(
      'BLE-PING-02',
      'PING of 128 bytes (fragmented at cpl) echoes exactly, or ERR_INVALID_LEN',
      async (ctx) => {
        const ble = await idle();
        const payload = bytes(128);
        const response = await rawCall(ble, fragment(BLE_CMD.PING, payload, ble.controlPointLength), {
          what: 'BLE-PING-02',
        });
        if (isError(response, BLE_ERR.INVALID_LEN)) {
          ctx.observe(`128-byte PING refused: ${framesHex(response.frames)}`);
          await drainQuiet(ble);
        } else assertEcho(response, payload, 'BLE-PING-02');
      },
    );

    check(
      'BLE-PING-03',
      'PING 256, 512, 1024 … until refused: each echoes, the first refusal is ERR_INVALID_LEN',
      async (ctx) => {
        const ble = await idle();
        const accepted: number[] = [];
        for (let size = 256; ; size = Math.min(size * 2, 0xffff)) {
          const payload = bytes(size);
          const response = await rawCall(ble, fragment(BLE_CMD.PING, payload, ble.controlPointLength), {
            timeoutMs: 10_000,
            what: `BLE-PING-03 (PING of ${size} bytes)`,
          });
          if (response.cmd === BLE_CMD.ERROR) {
            assertErrorFrame(response, BLE_ERR.INVALID_LEN, `BLE-PING-03: PING of ${size} bytes`);
            ctx.observe(`echoed ${accepted.join(', ')} bytes; ${size} refused`);
            break;
          }
          assertEcho(response, payload, `BLE-PING-03 (${size} bytes)`);
          accepted.push(size);
          if (size === 0xffff) {
            ctx.observe(`every size up to 65535 bytes echoed (${accepted.join(', ')})`);
            break;
          }
        }
        // BT waits 1.5 s after the refusal: continuations already on their way are dropped.
        await drainQuiet(ble, 1500, 5000);
        await assertPingWorks(ble, 'BLE-PING-03');
      },
      { timeoutMs: 60_000 },
    );

    check('BLE-CMD-01', 'an unknown command (0x84–0xFF) answers ERROR ERR_INVALID_CMD', async (ctx) => {
      // Not 0xBE: that is CTAP2 CANCEL, which needs no answer.
      const cmds = [0x84, 0xc0, 0xff].concat(0x85 + hostRandomInt(0x39));
      for (const cmd of cmds) {
        const ble = await idle();
        const response = await rawCall(ble, [initialFrame(cmd, 0)], {
          what: `BLE-CMD-01: command ${hex(Uint8Array.of(cmd))}`,
        });
        const got = framesHex(response.frames);
        assert.equal(
          response.frames[0]?.[0],
          BLE_CMD.ERROR,
          `BLE-CMD-01: command ${hex(Uint8Array.of(cmd))} answered ${got}`,
        );
        assert.equal(response.length, 1, `BLE-CMD-01: ERROR payload must be 1 byte (BT warns): ${got}`);
        assert.equal(response.data[0], BLE_ERR.INVALID_CMD, `BLE-CMD-01: code must be 01 (BT warns): ${got}`);
      }
      ctx.observe(`commands ${hex(Uint8Array.from(cmds))} each answered bf000101`);
    });
  });

  describe('Bluetooth LE · fragmentation', () => {
    const check = area(station, 'ble', 'BLE fragments');
    const cpl = async () => (await station.ble()).controlPointLength;

    check(
      'BLE-FRAG-01',
      'a second initial fragment while a message is open answers ERR_INVALID_SEQ',
      async () => {
        const n = await cpl();
        const init = initialFrame(BLE_CMD.MSG, n + 1, bytes(n - 3));
        await expectError([init, init], BLE_ERR.INVALID_SEQ, 'BLE-FRAG-01');
      },
    );

    check(
      'BLE-FRAG-02',
      'a continuation with SEQ 01 after the initial fragment answers ERR_INVALID_SEQ',
      async () => {
        const n = await cpl();
        const frames = [initialFrame(BLE_CMD.MSG, n, bytes(n - 3)), continuationFrame(1, bytes(3))];
        await expectError(frames, BLE_ERR.INVALID_SEQ, 'BLE-FRAG-02');
      },
    );

    check(
      'BLE-FRAG-03',
      'a continuation with no message open answers ERR_INVALID_SEQ',
      async () => {
        const n = await cpl();
        await expectError([continuationFrame(0, bytes(n - 1))], BLE_ERR.INVALID_SEQ, 'BLE-FRAG-03', 10_000);
      },
      { timeoutMs: 15_000 }, // 10 s for the answer, then a liveness PING if none came
    );

    check('BLE-FRAG-04', 'more data than HLEN/LLEN announce answers ERR_INVALID_LEN', async () => {
      const n = await cpl();
      await expectError([initialFrame(BLE_CMD.PING, 1, bytes(n - 3))], BLE_ERR.INVALID_LEN, 'BLE-FRAG-04');
    });

    check('BLE-FRAG-05', 'requests fragmented at cpl, at 20 and at mixed sizes are reassembled', async () => {
      const ble = await idle();
      const n = ble.controlPointLength;
      const payload = bytes(150);
      for (const [label, sizes] of [
        ['cpl', [n]],
        ['20', [20]],
        ['mixed', [4, 2, n, 11, 3, n - 1]],
      ] as const) {
        assertEcho(
          await rawCall(ble, fragmentAt(BLE_CMD.PING, payload, sizes), { what: `BLE-FRAG-05 (${label})` }),
          payload,
          `BLE-FRAG-05 (${label})`,
        );
      }
      // A MSG too: VERSION with 1-byte fragments after an empty-data initial fragment.
      const version = fromHex('00030000000000');
      const r = await rawCall(ble, fragmentAt(BLE_CMD.MSG, version, [3, 2]), {
        what: 'BLE-FRAG-05 (VERSION)',
      });
      assert.equal(
        hex(r.data),
        `${hex(new TextEncoder().encode('U2F_V2'))}9000`,
        'BLE-FRAG-05: VERSION in 1-byte fragments',
      );
    });

    check(
      'BLE-FRAG-06',
      'multi-fragment responses: initial first, SEQ 0, 1, …, ≤ cpl, exact length, no keepalive inside',
      async (ctx) => {
        const ble = await idle();
        const payload = bytes(300);
        assertEcho(
          await rawCall(ble, fragment(BLE_CMD.PING, payload, ble.controlPointLength), {
            what: 'BLE-FRAG-06',
          }),
          payload,
          'BLE-FRAG-06',
        );
        // A REGISTER: keepalives while the button is wanted, then a long MSG answer.
        const register = fragment(
          BLE_CMD.MSG,
          encodeRegister(random32(), random32()),
          ble.controlPointLength,
        );
        const r = await rawCallPressing(station, ble, register, 'REGISTER (BLE-FRAG-06)');
        assert.equal(r.cmd, BLE_CMD.MSG, `BLE-FRAG-06: REGISTER answered ${framesHex(r.frames)}`);
        assert.equal(
          hex(r.data.subarray(-2)),
          '9000',
          `BLE-FRAG-06: REGISTER answered SW ${hex(r.data.subarray(-2))}`,
        );
        ctx.observe(
          `REGISTER answer ${r.length} bytes in ${r.frames.length - r.keepalives.length} fragments after ${r.keepalives.length} keepalive(s)`,
        );
      },
      { severity: 'critical' },
    );

    check(
      'BLE-FRAG-07',
      'a PING needing > 128 continuations wraps SEQ 7F → 00',
      async (ctx) => {
        const ble = await idle();
        const n = ble.controlPointLength;
        const size = Math.min(n - 3 + (n - 1) * 130, 0xffff);
        const payload = bytes(size);
        const r = await rawCall(ble, fragment(BLE_CMD.PING, payload, n), {
          timeoutMs: 10_000,
          what: `BLE-FRAG-07 (PING of ${size} bytes)`,
        });
        if (isError(r, BLE_ERR.INVALID_LEN)) {
          ctx.observe(
            `PING of ${size} bytes over the device limit (${framesHex(r.frames)}): SEQ wrap not exercised`,
          );
          await drainQuiet(ble, 1500, 5000);
          return;
        }
        assertEcho(r, payload, `BLE-FRAG-07 (${size} bytes)`);
        const seqs = r.frames.slice(1).map((f) => f[0]!);
        assert.ok(seqs.length > 128, `BLE-FRAG-07: echo in ${seqs.length} continuations only`);
        ctx.observe(
          `${size} bytes, ${seqs.length} continuations each way, SEQ …${hex(Uint8Array.from(seqs.slice(125, 131)))}…`,
        );
      },
      { timeoutMs: 30_000 },
    );
  });
}
