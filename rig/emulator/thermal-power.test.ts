import assert from 'node:assert/strict';
import { parseResponse, SW } from '../transport/nfc/apdu.ts';
import { AUTH_P1 } from '../u2f/apdu.ts';
import {
  encodeAuthenticate,
  encodeRegister,
  parseAuthenticateResponse,
  parseRegisterResponse,
} from '../u2f/messages.ts';
import { Authenticator, type AuthenticatorOptions } from './authenticator.ts';
import { BatteryModel } from './battery.ts';
import { chargePerSignatureUah, DEFAULT_CURRENTS, PowerModel } from './power-model.ts';
import { PresenceSource } from './presence.ts';
import { attestationCertificate as cert, attestationKey as key } from './test-attestation.ts';
import { ThermalModel } from './thermal.ts';

describe('thermal model', () => {
  it('follows the ambient with a first-order lag and stops working outside its range', () => {
    let t = 0;
    const m = new ThermalModel({ now: () => t, timeConstantS: 60, worksUpToC: 45 });
    assert.equal(m.chipC, 25);
    m.setAmbient(50);
    t = 60_000; // one time constant: 63.2 % of the step
    assert.ok(Math.abs(m.chipC - (25 + 25 * (1 - Math.exp(-1)))) < 1e-9);
    assert.equal(m.working, true);
    t = 600_000;
    assert.ok(m.chipC > 49.99);
    assert.equal(m.working, false, 'above 45 C the faulty chip stops');
    m.setAmbient(25);
    t = 1_200_000;
    assert.equal(m.working, true);
  });

  it('refuses nonsense', () => {
    assert.throws(() => new ThermalModel({ worksFromC: 10, worksUpToC: 0 }), /must be below/);
    assert.throws(() => new ThermalModel().setAmbient(Number.NaN), /not a number/);
  });
});

describe('power model', () => {
  it('draws by state, with a burst per signature; overlapping signatures add up', () => {
    let t = 1000;
    const p = new PowerModel({}, () => t);
    assert.equal(p.currentUa(), DEFAULT_CURRENTS.idleUa);
    p.setState('advertising');
    assert.equal(p.currentUa(), DEFAULT_CURRENTS.advertisingUa);
    p.signed();
    p.signed();
    assert.equal(p.state, 'signing');
    assert.equal(p.currentUa(t + 0.5 * DEFAULT_CURRENTS.signingMs), 2 * DEFAULT_CURRENTS.signingUa);
    assert.equal(p.currentUa(t + DEFAULT_CURRENTS.signingMs), DEFAULT_CURRENTS.advertisingUa);
    t += 10_000;
    p.setState('off');
    assert.equal(p.currentUa(), 0);
  });

  it('costs a signature what the battery model takes for it', () => {
    const battery = new BatteryModel();
    const perSignatureUah =
      chargePerSignatureUah(DEFAULT_CURRENTS) +
      (DEFAULT_CURRENTS.idleUa * DEFAULT_CURRENTS.signingMs) / 3_600_000;
    assert.ok(
      Math.abs(perSignatureUah - battery.chargePerSignatureMah * 1000) < 1e-9,
      `${perSignatureUah} µAh`,
    );
  });
});

describe('authenticator: condition and counter persistence', () => {
  const make = (opts: Partial<AuthenticatorOptions>) => {
    const presence = new PresenceSource({ windowMs: 10_000 });
    const auth = new Authenticator({ attestationCertificate: cert, attestationKey: key, presence, ...opts });
    const app = new Uint8Array(32).fill(1);
    const chal = new Uint8Array(32).fill(2);
    presence.press(100);
    const reg = parseRegisterResponse(parseResponse(auth.process(encodeRegister(chal, app))).data);
    const sign = () => {
      presence.press(100);
      const r = parseResponse(auth.process(encodeAuthenticate(AUTH_P1.ENFORCE, chal, app, reg.keyHandle)));
      return { sw: r.sw, ...(r.sw === SW.NO_ERROR ? parseAuthenticateResponse(r.data) : {}) };
    };
    return { auth, sign, presence };
  };

  it('keeps every increment over a power cut by default; a batching chip goes back', () => {
    const good = make({});
    for (let i = 0; i < 5; i++) good.sign();
    good.auth.powerLost();
    assert.equal(good.sign().counter, 6);
    const batching = make({ persistCounterEvery: 4 });
    for (let i = 0; i < 6; i++) batching.sign(); // persisted at 4
    batching.auth.powerLost();
    assert.equal(batching.sign().counter, 5, 'the counter went back to the last NVM write');
  });

  it('answers 6F00 or signs wrongly when its condition says so', () => {
    let condition: 'ok' | 'error-status' | 'bad-signature' = 'ok';
    const c = make({ condition: () => condition });
    assert.equal(c.sign().sw, SW.NO_ERROR);
    condition = 'error-status';
    assert.equal(c.sign().sw, 0x6f00);
  });
});
