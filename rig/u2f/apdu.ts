/**
 * The U2F side of the APDUs (catalogue §1.1): instruction bytes, the AUTHENTICATE control
 * byte and python-fido2's legacy VERSION form. The ISO 7816-4 codec they travel in (status
 * words, extended and short encodings, parsing) is rig/transport/nfc/apdu.ts.
 */

/** U2F instruction bytes (U2F raw message formats §3; catalogue §1.1). */
export const INS = { REGISTER: 0x01, AUTHENTICATE: 0x02, VERSION: 0x03 } as const;

/** AUTHENTICATE control byte, sent as P1 (catalogue §1.1; DONT_ENFORCE is U2F v1.2 only). */
export const AUTH_P1 = { ENFORCE: 0x03, CHECK_ONLY: 0x07, DONT_ENFORCE: 0x08 } as const;

/** python-fido2's VERSION form, `Lc = 000000` then Le 0000 (not ISO; catalogue §1.1, U2F-VER-02). */
export function encodeLegacyVersion(): Uint8Array {
  return Uint8Array.of(0x00, INS.VERSION, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00);
}
