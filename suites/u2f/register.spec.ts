import assert from 'node:assert/strict';
import { concat, hex } from '../../rig/bytes.ts';
import { encodeExtended, SW, swName } from '../../rig/transport/nfc/apdu.ts';
import { AUTH_P1, INS } from '../../rig/u2f/apdu.ts';
import { isValidAt, P256_SPKI_PREFIX, parseAttestationCertificate } from '../../rig/u2f/attestation.ts';
import { encodeAuthenticate, encodeRegister, parseRegisterResponse } from '../../rig/u2f/messages.ts';
import { parseDerSignature } from '../../rig/u2f/verify.ts';
import { appliesTo, area, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';
import { registerRetransmitted } from '../support/hid-raw.ts';
import {
  assertSw,
  type Credential,
  drainPresence,
  random32,
  register,
  swHex,
  withholdPress,
} from '../support/u2f.ts';

const station = await getStation();

for (const kind of station.transports) {
  const u2f = await station.u2fOver(kind);

  describe(`${TRANSPORT_NAMES[kind]} · U2F REGISTER`, () => {
    const check = area(station, kind, 'U2F REGISTER');
    let first: Credential | undefined;
    const firstCredential = async () => {
      first ??= await register(u2f);
      return first;
    };

    check('U2F-REG-01', 'REGISTER with a 3-byte body is a length error', async () => {
      const r = await u2f.send(Uint8Array.of(0x00, 0x01, 0, 0, 0, 0, 3, 0x61, 0x62, 0x63, 0, 0));
      assertSw(r, SW.WRONG_LENGTH, 'REGISTER with body "abc"', { noData: true });
    });

    check('U2F-REG-02', 'REGISTER with 63- and 65-byte bodies is a length error', async () => {
      for (const n of [63, 65]) {
        const r = await u2f.send(
          encodeExtended({ ins: INS.REGISTER, data: new Uint8Array(n).fill(0x42), le: 65536 }),
        );
        assertSw(r, SW.WRONG_LENGTH, `REGISTER with a ${n}-byte body`, { noData: true });
      }
    });

    if (appliesTo('H,B', kind)) {
      check(
        'U2F-REG-03',
        'valid REGISTER without a press answers 6985 and does not block',
        async () => {
          await drainPresence(u2f, await firstCredential());
          const r = await u2f.send(encodeRegister(random32(), random32()));
          assertSw(r, SW.CONDITIONS_NOT_SATISFIED, 'REGISTER without presence', { noData: true });
          assert.equal(await u2f.version(), 'U2F_V2', 'device blocked after 6985');
        },
        { severity: 'critical' },
      );
    }

    check(
      'U2F-REG-04',
      'valid REGISTER after presence has the registration response layout',
      async (ctx) => {
        const cred = await register(u2f);
        const reg = cred.registration;
        assert.equal(reg.reserved, 0x05, 'reserved byte must be 05');
        assert.equal(reg.userPublicKey.length, 65);
        assert.equal(reg.userPublicKey[0], 0x04, 'public key must be an uncompressed point (04 ‖ X ‖ Y)');
        assert.equal(reg.raw[66], reg.keyHandle.length, 'byte 66 must be the key-handle length');
        assert.ok(
          reg.certificate[0] === 0x30 && (reg.certificate[1] === 0x81 || reg.certificate[1] === 0x82),
          'certificate must be DER 30 81 xx or 30 82 xx xx',
        );
        const cert = parseAttestationCertificate(reg.certificate);
        // Where the identity could not read it at the start (presence by an operator).
        if (!station.identity['attestation key id'])
          station.facts['attestation certificate subject'] = cert.subject;
        ctx.observe(`attestation subject "${cert.subject}", key handle ${reg.keyHandle.length} bytes`);
      },
      { severity: 'blocker' },
    );

    check(
      'U2F-REG-05',
      'registration signature verifies with the attestation key',
      async () => {
        // register() verifies ECDSA-P256/SHA-256 over 00 ‖ app ‖ chal ‖ KH ‖ pubkey.
        await register(u2f);
      },
      { severity: 'blocker' },
    );

    check(
      'U2F-REG-06',
      'attestation certificate: P-256 key, ecdsa-with-SHA256, valid now, transports',
      async (ctx) => {
        const cred = await firstCredential();
        const cert = parseAttestationCertificate(cred.registration.certificate);
        assert.ok(
          cert.spkiIsP256,
          `SPKI must start ${hex(P256_SPKI_PREFIX)} (named-curve P-256), got ${hex(cert.spki.subarray(0, 27))}`,
        );
        assert.ok(
          cert.isEcdsaWithSha256,
          `certificate must be signed with ecdsa-with-SHA256, got OID ${cert.signatureAlgorithmOid}`,
        );
        assert.ok(
          isValidAt(cert, new Date()),
          `certificate not valid now (${cert.notBefore.toISOString()} .. ${cert.notAfter.toISOString()})`,
        );
        const expected = station.profile.u2f.attestation.transports;
        ctx.observe(`fidoU2FTransports: ${cert.transports ? cert.transports.join(', ') : 'absent'}`);
        if (cert.transports && expected) {
          assert.deepEqual(
            [...cert.transports].sort(),
            [...expected].sort(),
            'fidoU2FTransports must list the profile transports',
          );
        }
      },
      { severity: 'critical' },
    );

    check('U2F-REG-07', 'key-handle length is within the profile range (64..255)', async () => {
      const { min, max } = station.profile.u2f.keyHandleLength;
      const length = (await firstCredential()).keyHandle.length;
      assert.ok(
        length >= min && length <= max,
        `key handle is ${length} bytes, profile wants ${min}..${max}`,
      );
    });

    check('U2F-REG-08', 'REGISTER accepts P1 00, 03 and 80', async () => {
      for (const p1 of [0x00, 0x03, 0x80]) await register(u2f, random32(), random32(), p1);
    });

    check(
      'U2F-REG-09',
      'two REGISTERs with the same parameters give different key handles and keys',
      async () => {
        const app = random32();
        const chal = random32();
        const a = await register(u2f, app, chal);
        const b = await register(u2f, app, chal);
        assert.notEqual(hex(a.keyHandle), hex(b.keyHandle), 'same key handle twice');
        assert.notEqual(hex(a.publicKey), hex(b.publicKey), 'same public key twice');
      },
      { severity: 'critical' },
    );

    if (appliesTo('H', kind)) {
      check(
        'U2F-REG-10',
        'REGISTER consumes the press: an immediate enforce AUTHENTICATE answers 6985',
        async () => {
          // A device that approves by itself approves the AUTHENTICATE too.
          if (u2f.presence) withholdPress(u2f.presence.mode);
          const cred = await register(u2f);
          const r = await u2f.send(
            encodeAuthenticate(AUTH_P1.ENFORCE, random32(), cred.appParam, cred.keyHandle),
          );
          assertSw(r, SW.CONDITIONS_NOT_SATISFIED, 'AUTHENTICATE right after REGISTER', { noData: true });
        },
        { severity: 'critical' },
      );

      check(
        'U2F-REG-11',
        'a REGISTER sent twice while the first is processing gives only valid answers',
        async (ctx) => {
          const hid = await station.hid();
          await u2f.requestPresence('REGISTER (retransmitted)');
          const app = random32();
          const chal = random32();
          const answers = await registerRetransmitted(hid, station.traffic, encodeRegister(chal, app), 1000);
          ctx.observe(`answers: ${answers.map((a) => a.summary).join('; ')}`);
          const valid = answers.filter((a) => a.apdu && a.apdu.length > 2 && a.sw === SW.NO_ERROR);
          assert.ok(answers.length >= 1, 'no answer to the REGISTER');
          for (const a of answers) {
            if (a.apdu && a.sw === SW.NO_ERROR) parseRegisterResponse(a.apdu.subarray(0, -2));
            else assert.ok(a.acceptable, `unexpected answer to a retransmitted REGISTER: ${a.summary}`);
          }
          if (station.presence.mode === 'actuator')
            assert.ok(valid.length >= 1, 'no valid registration among the answers');
        },
      );
    }

    check('U2F-REG-12', 'REGISTER without Le (case 3E) is recorded', async (ctx) => {
      await u2f.requestPresence('REGISTER without Le');
      const r = await u2f.send(encodeExtended({ ins: INS.REGISTER, data: concat(random32(), random32()) }));
      // A 9000 counts as a registration only when it parses as one with a DER signature.
      if (r.sw === SW.NO_ERROR) parseDerSignature(parseRegisterResponse(r.data).signature);
      const observed = {
        [SW.NO_ERROR]: 'registers',
        [SW.WRONG_LENGTH]: 'length-error',
        [SW.CONDITIONS_NOT_SATISFIED]: 'presence-required',
      }[r.sw];
      ctx.disputed(observed, `REGISTER without Le answered ${swName(r.sw)} (${swHex(r.sw)})`);
    });
  });
}
