import { ConfigError } from '../errors.ts';

/**
 * Deliberate non-conformances of the emulated chip, so the suites can prove they catch
 * bad devices (`--device emulator:FAULT`). Each is a realistic firmware bug; the catalogue
 * IDs are the cases that must fail when it is switched on.
 */
export const FAULTS = {
  'counter-frozen': { what: 'the signature counter never moves', caughtBy: ['U2F-CTR-01', 'U2F-AUTH-10'] },
  'counter-little-endian': {
    what: 'the counter is written little-endian (as libu2f-emu does): +1 reads as +2^24',
    caughtBy: ['U2F-CTR-01'],
  },
  'tampered-key-handle-accepted': {
    what: 'key handles are not authenticated: a changed handle still signs',
    caughtBy: ['U2F-AUTH-04', 'U2F-AUTH-05'],
  },
  'presence-not-consumed': {
    what: 'one press allows any number of signatures',
    caughtBy: ['U2F-REG-10', 'U2F-AUTH-09'],
  },
  'signs-without-press': {
    what: 'enforce-presence requests sign without a press',
    caughtBy: ['U2F-AUTH-01'],
  },
  'wrong-flags': { what: 'the user-presence byte is 0x05 instead of 0x01', caughtBy: ['U2F-AUTH-08'] },
  'bad-auth-signature': {
    what: 'authentication signatures are over the wrong data (challenge and app swapped)',
    caughtBy: ['U2F-AUTH-08'],
  },
  'check-only-signs': {
    what: 'check-only (P1 07) signs instead of answering 6985',
    caughtBy: ['U2F-AUTH-02'],
  },
  'same-key-pair': { what: 'every REGISTER returns the same key pair', caughtBy: ['U2F-REG-09'] },
  'slower-than-profile': {
    what: 'every AUTHENTICATE takes 900 ms, above the profile limit (500 ms over USB HID, 800 ms over NFC)',
    caughtBy: ['PERF-LAT-03'],
    suite: 'perf',
    grep: 'PERF-LAT',
  },
  'stops-at-45c': {
    what: 'the chip stops working (answers 6F00) above 45 C, inside its 50 C operating limit',
    caughtBy: ['ENV-TEMP-05'],
    suite: 'env',
    station: 'emulated-lab.yaml',
    grep: 'ENV-TEMP',
  },
  'counter-back-after-power-cut': {
    what: 'the counter reaches NVM every 8 signatures, so it goes back after a power cut',
    caughtBy: ['ENV-PWR-01'],
    suite: 'env',
    grep: 'ENV-PWR',
  },
  'counter-moves-on-failure': {
    what: 'a refused AUTHENTICATE (no press, check-only) still advances the counter',
    caughtBy: ['SEC-CTR-02'],
    suite: 'security',
  },
  'nonce-reuse': {
    what: 'every authentication signature uses the same ECDSA nonce k (the same r): its keys can be computed',
    caughtBy: ['SEC-NONCE-01'],
    suite: 'security',
  },
  'key-handle-not-bound-to-app': {
    what: 'a key handle signs for any appParam, not only the one it was registered for',
    caughtBy: ['U2F-AUTH-06', 'SEC-KH-02'],
    suite: 'u2f,security',
  },
  'expired-attestation': {
    what: 'the attestation certificate expired in 2017',
    caughtBy: ['U2F-REG-06', 'SEC-ATT-01'],
    suite: 'u2f,security',
  },
  'wrong-curve-attestation': {
    what: 'the attestation key is on P-384, not P-256 (and signs with it)',
    caughtBy: ['U2F-REG-06', 'SEC-ATT-01'],
    suite: 'u2f,security',
  },
  'wrong-sw-bad-cla': {
    what: 'an unknown CLA is answered 6D00 (INS not supported) instead of 6E00',
    caughtBy: ['U2F-CLA-01'],
  },
  'wrong-sw-bad-ins': {
    what: 'an unknown INS is answered 6E00 (CLA not supported) instead of 6D00',
    caughtBy: ['U2F-INS-01'],
  },
  'wrong-sw-bad-length': {
    what: 'a wrong request length is answered 6A80 (wrong data) instead of 6700',
    caughtBy: ['U2F-VER-03', 'U2F-REG-01'],
  },
  'drops-response': {
    what: 'over USB HID the chip never answers VERSION, though it stays responsive (INIT, other messages)',
    caughtBy: ['U2F-VER-01'],
  },
  'garbage-response': {
    what: 'AUTHENTICATE answers random bytes with SW 9000',
    caughtBy: ['U2F-AUTH-08'],
  },
  'init-nonce-not-echoed': {
    what: 'CTAPHID INIT on an allocated channel answers with the nonce reversed',
    caughtBy: ['HID-INIT-02'],
    suite: 'hid',
  },
  'bad-cont-seq-accepted': {
    what: 'a CTAPHID continuation with the wrong SEQ is ignored instead of answered ERR_INVALID_SEQ',
    caughtBy: ['HID-SEQ-01'],
    suite: 'hid',
  },
  'msg-on-broadcast': {
    what: 'commands other than INIT are served on the broadcast channel FFFFFFFF',
    caughtBy: ['HID-CID-02'],
    suite: 'hid',
  },
  'no-frame-timeout': {
    what: 'an unfinished CTAPHID message is held forever: no ERR_MSG_TIMEOUT',
    caughtBy: ['HID-TMO-01'],
    suite: 'hid',
  },
  'dies-on-oversized-init': {
    what: 'over USB HID an init packet announcing more than 7609 bytes kills the firmware: no answer to it or anything after, power cycles included',
    caughtBy: ['HID-LEN-01'],
    suite: 'hid',
  },
  'wedges-busy-after-bad-seq': {
    what: 'after a CTAPHID continuation with the wrong SEQ (answered ERR_INVALID_SEQ) the chip answers ERR_CHANNEL_BUSY to everything, on every channel, until its power is cut',
    caughtBy: ['HID-SEQ-01'],
    suite: 'hid',
  },
  'msg-answered-with-error': {
    what: 'over USB HID a U2F message with an unknown INS is answered with CTAPHID ERROR 01 (invalid command) instead of status word 6D00',
    caughtBy: ['U2F-INS-01'],
  },
  'select-wrong-version': {
    what: 'SELECT of the FIDO applet answers FIDO_2_0, though the chip speaks only U2F',
    caughtBy: ['NFC-SEL-01'],
    suite: 'nfc',
    transport: 'nfc',
  },
  'get-response-broken': {
    what: 'GET RESPONSE repeats the first chunk of a long answer instead of the next one',
    caughtBy: ['NFC-REG-01'],
    suite: 'nfc',
    transport: 'nfc',
  },
  'ble-fragments-out-of-order': {
    what: 'FIDO BLE response continuations go out in the wrong order (SEQ 1 before SEQ 0)',
    caughtBy: ['BLE-FRAG-06'],
    station: 'emulated-ble.yaml',
  },
  'ble-wrong-seq': {
    what: 'FIDO BLE response continuations start at SEQ 1 instead of 0',
    caughtBy: ['BLE-FRAG-06'],
    station: 'emulated-ble.yaml',
  },
  'ble-no-keepalive': {
    what: 'no KEEPALIVE while the chip waits for the button on BLE',
    caughtBy: ['BLE-KA-01'],
    station: 'emulated-ble.yaml',
  },
  'ble-cpl-10': {
    what: 'fidoControlPointLength reads 10, below the 20 every FIDO BLE device must take (the chip itself still works in 20-byte fragments)',
    caughtBy: ['BLE-GATT-03'],
    station: 'emulated-ble.yaml',
  },
  'ble-revision-0': {
    what: 'fidoServiceRevisionBitfield reads 00: it offers no revision (the chip itself speaks U2F 1.1 and 1.2)',
    caughtBy: ['BLE-VER-01'],
    station: 'emulated-ble.yaml',
  },
  'ble-silent-unknown-cmd': {
    what: 'an unknown FIDO BLE command (0x84-0xFF) gets no answer instead of ERROR ERR_INVALID_CMD',
    caughtBy: ['BLE-CMD-01'],
    station: 'emulated-ble.yaml',
  },
  'ble-silent-stray-cont': {
    what: 'a continuation fragment with no message open gets no answer instead of ERROR ERR_INVALID_SEQ',
    caughtBy: ['BLE-FRAG-03'],
    station: 'emulated-ble.yaml',
  },
} as const;

export type DeviceFaultName = keyof typeof FAULTS;

/**
 * Link faults: the device is fine, the link is not. A run with one must end broken (exit 3)
 * for the one test the fault hits, with every other result passed and on disk.
 */
export const LINK_FAULTS = {
  'card-leaves-field': {
    what: 'the card leaves the reader field in the middle of the third REGISTER on NFC, once',
  },
  'stops-answering-once': {
    what: 'the chip never answers the third U2F message over USB HID (once): the request times out',
  },
  'unplugged-mid-run': {
    what: 'the chip is unplugged from USB after its 20th U2F message over HID and never comes back',
  },
} as const;

export type LinkFaultName = keyof typeof LINK_FAULTS;

/**
 * Parser bugs that only malformed input reaches: no suite case sends it, the fuzzer finds
 * them (`chiprig fuzz`). `finding` is what a campaign must report; `transports`, the links
 * it shows on. With FAULTS' dies-on-oversized-init and wedges-busy-after-bad-seq (USB HID)
 * they give every link a crash or a hang to find.
 */
export const FUZZ_FAULTS = {
  'crashes-on-short-key-handle': {
    what: 'an AUTHENTICATE whose key-handle length byte is larger than the key handle it carries makes the firmware read past its buffer and crash: silent on every link until its power is cut (over NFC the field is its power)',
    finding: 'crash',
    transports: ['hid', 'ble'],
  },
  'counter-reset-by-bad-p1': {
    what: 'an AUTHENTICATE with an undefined control byte (P1 not 03, 07 or 08) is refused 6A80, as it must be, but sets the signature counter back to 0',
    finding: 'corruption',
    transports: ['hid', 'nfc', 'ble'],
  },
  'nfc-mute-on-stray-get-response': {
    what: 'a GET RESPONSE with no answer pending sends the card into a loop: mute until the field goes off',
    finding: 'hang',
    transports: ['nfc'],
  },
  'ble-crash-on-long-init': {
    what: 'a FIDO BLE initial fragment announcing more than 1024 bytes overruns the receive buffer: the chip crashes, silent until its power is cut',
    finding: 'crash',
    transports: ['ble'],
  },
} as const;

export type FuzzFaultName = keyof typeof FUZZ_FAULTS;

/**
 * Text faults: the chip works, but what it says of itself is hostile. Every place that shows
 * device text (console, report, chiprig serve's pages) must show it as text: nothing of it
 * may run or change the page.
 */
export const TEXT_FAULTS = {
  'hostile-strings': {
    what: 'the USB (and BLE Device Information) manufacturer and product strings carry HTML markup, a script and an event handler',
  },
} as const;

export type TextFaultName = keyof typeof TEXT_FAULTS;

/** What the hostile-strings chip calls itself: a page that renders it as HTML sets window.__chiprigPwned. */
export const HOSTILE_PRODUCT =
  '<img src=x onerror="window.__chiprigPwned=1"><script>window.__chiprigPwned=2</script><b>MitID</b>';
export const HOSTILE_MANUFACTURER = '<svg onload="window.__chiprigPwned=3">ACME</svg>';

export type FaultName = DeviceFaultName | LinkFaultName | FuzzFaultName | TextFaultName;

export function isLinkFault(name: FaultName): name is LinkFaultName {
  return name in LINK_FAULTS;
}

export function isTextFault(name: FaultName): name is TextFaultName {
  return name in TEXT_FAULTS;
}

export function parseFault(name: string, where: string): FaultName {
  if (name in FAULTS || name in LINK_FAULTS || name in FUZZ_FAULTS || name in TEXT_FAULTS)
    return name as FaultName;
  const known = [
    ...Object.keys(FAULTS),
    ...Object.keys(LINK_FAULTS),
    ...Object.keys(FUZZ_FAULTS),
    ...Object.keys(TEXT_FAULTS),
  ].join(', ');
  throw new ConfigError(`${where}: unknown emulator fault "${name}" (known: ${known})`);
}
