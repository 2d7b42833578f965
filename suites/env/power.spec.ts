import assert from 'node:assert/strict';
import { isTransportError } from '../../rig/errors.ts';
import { SW } from '../../rig/transport/nfc/apdu.ts';
import { AUTH_P1 } from '../../rig/u2f/apdu.ts';
import { encodeAuthenticate, parseAuthenticateResponse } from '../../rig/u2f/messages.ts';
import { area, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { instrumentsOf } from '../support/env.ts';
import { authenticate, random32, register } from '../support/u2f.ts';

const station = await getStation();
const kind = station.transports[0]!;
/** Catalogue §4: "repeated >= 20 times, including a cycle during the signing APDU". */
const CYCLES = 20;

describe(`${TRANSPORT_NAMES[kind]} · power cycling`, () => {
  const check = area(station, kind, 'power cycling');
  after(() => station.closeInstruments());
  check(
    'ENV-PWR-01',
    `the counter only rises over ${CYCLES} power cycles, every other one cut while a signature is in flight`,
    async (ctx) => {
      if (!(await instrumentsOf(station, ctx)).power)
        ctx.skip('the station has no power switch (instruments.power in the station file)');
      const u2f = await station.u2fOver(kind);
      const cred = await register(u2f);
      let last = (await authenticate(u2f, cred)).counter;
      const seen = [last];
      let torn = 0;
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        if (cycle % 2 === 1) {
          // Tearing: cut the power while an AUTHENTICATE is in flight. Whatever it answered
          // (or not) before the cut, a counter it gave out counts as seen.
          await station.presence.request('AUTHENTICATE before a power cut');
          const apdu = encodeAuthenticate(AUTH_P1.ENFORCE, random32(), cred.appParam, cred.keyHandle);
          const inFlight = u2f.send(apdu).then(
            (r) => (r.sw === SW.NO_ERROR ? parseAuthenticateResponse(r.data).counter : undefined),
            (error) => {
              if (!isTransportError(error)) throw error;
              torn++;
              return undefined;
            },
          );
          await station.setPower(false);
          const counter = await inFlight;
          if (counter !== undefined) {
            assert.ok(counter > last, `cycle ${cycle + 1}: counter ${counter} after ${last}`);
            last = counter;
            seen.push(counter);
          }
        } else {
          await station.setPower(false);
        }
        await station.setPower(true);
        const counter = (await authenticate(u2f, cred)).counter;
        assert.ok(
          counter > last,
          `after power cycle ${cycle + 1} the counter went from ${last} to ${counter}: it must only rise (counters seen: ${[...seen, counter].join(' ')})`,
        );
        last = counter;
        seen.push(counter);
      }
      ctx.measure.declare({ name: 'cycles', unit: 'cycles' });
      ctx.measure.declare({
        name: 'torn',
        unit: 'signatures',
        description: 'signatures cut off by the power cut',
      });
      ctx.measure.record('cycles', CYCLES);
      ctx.measure.record('torn', torn);
      ctx.observe(`counters ${seen.join(' ')}; ${torn} signatures cut off mid-flight`);
    },
    { timeoutMs: 600_000 },
  );
});
