import { ConfigError } from '../errors.ts';

/**
 * The disputed points (fixtures/requirements.yaml, strength disputed) on which the emulated
 * chip can give either sanctioned answer. The first name is what it does by default; a
 * station file picks another under `emulator.disputed`, so a run can prove that every
 * sanctioned behaviour passes (fixtures/stations/emulated-alternative.yaml).
 */
export const EMULATOR_DISPUTED = {
  'U2F-VER-07': ['served', 'length-error'],
  'U2F-AUTH-07': ['wrong-data', 'wrong-length'],
  'U2F-CTR-01': ['plus-one', 'increasing'],
  'U2F-CTR-04': ['global', 'per-credential'],
  'U2F-REG-12': ['registers', 'length-error', 'presence-required'],
  'HID-INIT-03': ['legacy-echo', 'strict-invalid-channel'],
  'HID-CID-03': ['legacy-echo', 'strict-invalid-channel'],
  'HID-INIT-05': ['served', 'refused'],
  'HID-MSG-01': ['invalid-len', 'apdu-status'],
  'NFC-SEL-03': ['served', 'refused'],
  'NFC-SEL-05': ['refused', 'served'],
  'NFC-CHAIN-03': ['abandoned', 'kept'],
  'BLE-GATT-04': ['present', 'absent'],
  'BLE-TMO-01': ['req-timeout', 'silent-reset'],
} as const satisfies Record<string, readonly [string, ...string[]]>;

export type DisputedPoint = keyof typeof EMULATOR_DISPUTED;
export type DisputedChoices = { [K in DisputedPoint]: (typeof EMULATOR_DISPUTED)[K][number] };

/**
 * HID-INIT-03, HID-CID-03 and HID-INIT-05 are one rule in the chip (legacy or strict channel
 * handling), so they are chosen together.
 */
const CHANNEL_POINTS = ['HID-INIT-03', 'HID-CID-03', 'HID-INIT-05'] as const;

/**
 * Every point's choice: the defaults with the station file's picks over them. Unknown
 * points, names no point sanctions, and a split channel rule are refused with what to write.
 */
export function disputedChoices(
  picks: Readonly<Record<string, string>> = {},
  where = 'emulator.disputed',
): DisputedChoices {
  const choices = Object.fromEntries(
    Object.entries(EMULATOR_DISPUTED).map(([id, names]) => [id, names[0]]),
  ) as Record<string, string>;
  for (const [id, name] of Object.entries(picks)) {
    const names = (EMULATOR_DISPUTED as Record<string, readonly string[]>)[id];
    if (!names) {
      throw new ConfigError(
        `${where}: the emulated chip has no choice for ${id}; it can choose for ${Object.keys(EMULATOR_DISPUTED).join(', ')}`,
      );
    }
    if (!names.includes(name)) {
      throw new ConfigError(`${where}.${id}: "${name}" is not one of ${names.join(', ')}`);
    }
    choices[id] = name;
  }
  const strict = CHANNEL_POINTS.filter((id) => choices[id] !== EMULATOR_DISPUTED[id][0]);
  if (strict.length > 0 && strict.length < CHANNEL_POINTS.length) {
    throw new ConfigError(
      `${where}: ${CHANNEL_POINTS.join(', ')} are one channel rule in the chip: choose ${CHANNEL_POINTS.map((id) => `${id}: ${EMULATOR_DISPUTED[id][1]}`).join(', ')} together, or none of them`,
    );
  }
  return choices as DisputedChoices;
}
