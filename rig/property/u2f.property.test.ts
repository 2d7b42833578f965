/**
 * Property-based tests (fast-check) of the U2F codecs and parsers: APDU encode → parse
 * round trips, and parsers of device output (responses, signatures, certificates) that
 * answer any bytes with a parse or a device failure (an assertion naming the bytes), never
 * a crash of another kind.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { p256 } from '@noble/curves/nist.js';
import fc from 'fast-check';
import { bytes, hexOf, RUNS } from '../../test/support/property.ts';
import { concat, toBytes } from '../bytes.ts';
import { isDeviceFailure } from '../errors.ts';
import { encodeExtended, encodeShort, parseCommandApdu, parseResponse, SW } from '../transport/nfc/apdu.ts';
import { parseAttestationCertificate } from '../u2f/attestation.ts';
import { parseAuthenticateResponse, parseRegisterResponse } from '../u2f/messages.ts';
import { parseDerSignature } from '../u2f/verify.ts';

const byte = fc.integer({ min: 0, max: 0xff });

/** Runs a parser of device output: it may return or fail the device, nothing else. */
function parsesOrFailsDevice(parse: () => unknown): void {
  try {
    parse();
  } catch (error) {
    assert.ok(isDeviceFailure(error), `not a device failure: ${(error as Error)?.stack ?? error}`);
    assert.match((error as Error).message, /\S/);
  }
}

const CERT = toBytes(
  new X509Certificate(readFileSync(new URL('../../fixtures/attestation/batch-cert.pem', import.meta.url)))
    .raw,
);

describe('property: command APDUs', () => {
  it('encodeExtended → parseCommandApdu gives back header, data and Le', () => {
    fc.assert(
      fc.property(
        byte,
        byte,
        byte,
        byte,
        bytes(1200).filter((d) => d.length > 0),
        fc.option(fc.integer({ min: 1, max: 65536 }), { nil: undefined }),
        (cla, ins, p1, p2, data, le) => {
          const parsed = parseCommandApdu(encodeExtended({ cla, ins, p1, p2, data, le }));
          assert.ok(parsed.ok, JSON.stringify(parsed));
          assert.deepEqual(
            [parsed.apdu.cla, parsed.apdu.ins, parsed.apdu.p1, parsed.apdu.p2],
            [cla, ins, p1, p2],
          );
          assert.equal(hexOf(parsed.apdu.data), hexOf(data));
          assert.equal(parsed.apdu.le, le);
          assert.equal(parsed.apdu.form, 'extended');
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('encodeShort → parseCommandApdu gives back data of 1..255 bytes and Le 1..256', () => {
    fc.assert(
      fc.property(
        byte,
        fc.uint8Array({ minLength: 1, maxLength: 255 }),
        fc.option(fc.integer({ min: 1, max: 256 }), { nil: undefined }),
        (ins, data, le) => {
          const parsed = parseCommandApdu(encodeShort({ ins, data, le }));
          assert.ok(parsed.ok && parsed.apdu.form === 'short');
          assert.equal(hexOf(parsed.apdu.data), hexOf(data));
          assert.equal(parsed.apdu.le, le);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('parseCommandApdu answers any bytes with a command or 6700, never a throw', () => {
    fc.assert(
      fc.property(bytes(300), (raw) => {
        const parsed = parseCommandApdu(raw);
        if (!parsed.ok) assert.equal(parsed.sw, SW.WRONG_LENGTH);
      }),
      { numRuns: RUNS },
    );
  });

  it('parseResponse keeps every byte: data ‖ SW is the raw answer; fewer than 2 bytes fail the device', () => {
    fc.assert(
      fc.property(bytes(600), (raw) => {
        parsesOrFailsDevice(() => {
          const r = parseResponse(raw);
          assert.equal(hexOf(r.raw), hexOf(raw));
          assert.equal(hexOf(concat(r.data, Uint8Array.of(r.sw >> 8, r.sw & 0xff))), hexOf(raw));
        });
        if (raw.length >= 2) parseResponse(raw);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('property: U2F responses from the device', () => {
  it('parseRegisterResponse: any bytes parse or fail the device', () => {
    fc.assert(
      fc.property(bytes(1200), (raw) => parsesOrFailsDevice(() => parseRegisterResponse(raw))),
      { numRuns: RUNS },
    );
  });

  it('parseRegisterResponse: a well-formed answer with any key handle length 1..255 gives its parts back', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.uint8Array({ minLength: 1, maxLength: 255 }),
        fc.bigInt({ min: 1n, max: p256.Point.Fn.ORDER - 1n }),
        fc.bigInt({ min: 1n, max: p256.Point.Fn.ORDER - 1n }),
        (xy, keyHandle, r, s) => {
          const publicKey = concat(Uint8Array.of(0x04), xy);
          const signature = new p256.Signature(r, s).toBytes('der');
          const raw = concat(
            Uint8Array.of(0x05),
            publicKey,
            Uint8Array.of(keyHandle.length),
            keyHandle,
            CERT,
            signature,
          );
          const parsed = parseRegisterResponse(raw);
          assert.equal(hexOf(parsed.userPublicKey), hexOf(publicKey));
          assert.equal(hexOf(parsed.keyHandle), hexOf(keyHandle));
          assert.equal(hexOf(parsed.certificate), hexOf(CERT));
          assert.equal(hexOf(parsed.signature), hexOf(signature));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('parseAuthenticateResponse: any bytes parse or fail the device', () => {
    fc.assert(
      fc.property(bytes(120), (raw) => parsesOrFailsDevice(() => parseAuthenticateResponse(raw))),
      { numRuns: RUNS },
    );
  });
});

describe('property: signatures and certificates', () => {
  it('parseDerSignature reads back any (r, s) of P-256 in DER', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: p256.Point.Fn.ORDER - 1n }),
        fc.bigInt({ min: 1n, max: p256.Point.Fn.ORDER - 1n }),
        (r, s) => {
          const parsed = parseDerSignature(new p256.Signature(r, s).toBytes('der'));
          assert.equal(parsed.r, r);
          assert.equal(parsed.s, s);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('parseDerSignature: any bytes parse or fail the device (U2F-CRY-01)', () => {
    fc.assert(
      fc.property(bytes(80), (raw) => parsesOrFailsDevice(() => parseDerSignature(raw))),
      { numRuns: RUNS },
    );
  });

  it('parseAttestationCertificate: random bytes, and the test certificate cut or with bytes changed, parse or fail the device', () => {
    const mutated = fc
      .tuple(fc.array(fc.tuple(fc.nat(), byte), { minLength: 1, maxLength: 4 }), fc.nat())
      .map(([changes, cut]) => {
        const c = Uint8Array.from(CERT);
        for (const [at, value] of changes) c[at % c.length] = value;
        return cut % 3 === 0 ? c.subarray(0, cut % c.length) : c;
      });
    fc.assert(
      fc.property(fc.oneof(bytes(600), mutated), (raw) =>
        parsesOrFailsDevice(() => parseAttestationCertificate(raw)),
      ),
      { numRuns: RUNS },
    );
  });
});
