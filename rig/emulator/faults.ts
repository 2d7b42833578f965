import { ConfigError } from '../errors.ts';

/**
 * Deliberate non-conformances of the emulated chip, so the suites can prove they catch
 * bad devices (`--device emulator:FAULT`). Each is a realistic firmware bug; the catalogue
 * IDs are the cases that must fail when it is switched on.
 */
export const FAULTS = {
  'counter-frozen': { what: 'the signature counter never moves', caughtBy: ['U2F-CTR-01', 'U2F-AUTH-10'] },
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
    station: 'emulated-lab.yaml',
    grep: 'ENV-PWR',
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
} as const;

export type LinkFaultName = keyof typeof LINK_FAULTS;
export type FaultName = DeviceFaultName | LinkFaultName;

export function isLinkFault(name: FaultName): name is LinkFaultName {
  return name in LINK_FAULTS;
}

export function parseFault(name: string, where: string): FaultName {
  if (name in FAULTS || name in LINK_FAULTS) return name as FaultName;
  const known = [...Object.keys(FAULTS), ...Object.keys(LINK_FAULTS)].join(', ');
  throw new ConfigError(`${where}: unknown emulator fault "${name}" (known: ${known})`);
}
