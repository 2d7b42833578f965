import { z } from 'zod';

/**
 * Scenario files (README, "Scenario files"): scripted scenarios in YAML for people who do
 * not write TypeScript. This schema is the contract; `schemas/scenario.schema.json` is
 * generated from it (npm run schema) for editors, and a unit test keeps the two alike.
 *
 * A value that stands for bytes ("VALUE") is a string:
 *   hex, spaces or colons allowed  "00 A4 04 00 08 A0 00 00 06 47 2F 00 01"
 *   sha256:TEXT                    SHA-256 of the UTF-8 text (an application parameter)
 *   text:TEXT                      the UTF-8 bytes of the text
 *   random, random:N               N fresh random bytes (32 by default)
 * `${name}` inside a value is replaced by a captured variable (bytes as hex; a number as its
 * big-endian bytes, as few as hold it).
 */

const VALUE = z
  .string()
  .min(1)
  .describe(
    `bytes: hex (spaces or colons allowed), sha256:TEXT, text:TEXT, random or random:N; \${name} substitutes a variable`,
  );
const VAR = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a variable name: letters, digits, _');
const INT = z.number().int();
/** A number, or a variable holding one ("${ctr}"). */
const NUMBER_OR_VAR = z.union([
  z.number(),
  z.string().regex(/^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/, `a number or "\${variable}"`),
]);
const SW = z.string().regex(/^[0-9a-fA-F]{4}$/, 'a status word as 4 hex digits, e.g. "9000"');
const EMPTY = z.union([z.null(), z.strictObject({})]);
const DURATION = z.union([
  INT.nonnegative(),
  z.string().regex(/^\d+(\.\d+)?(ms|s)$/, 'a duration: milliseconds, or e.g. "500ms", "2s"'),
]);

export const CAPTURE_FIELDS = [
  'data',
  'sw',
  'keyHandle',
  'publicKey',
  'certificate',
  'signature',
  'counter',
  'flags',
] as const;

export const ExpectSchema = z
  .strictObject({
    sw: z
      .union([SW, z.array(SW).min(1)])
      .optional()
      .describe('the status word, or one of a list'),
    data: z
      .strictObject({
        exact: VALUE.optional(),
        length: z
          .union([INT.nonnegative(), z.strictObject({ min: INT.optional(), max: INT.optional() })])
          .optional(),
        pattern: z.string().optional().describe('a regular expression the uppercase hex must match'),
      })
      .optional()
      .describe('the response data (status word removed)'),
    maxMs: z.number().positive().optional().describe('the step takes at most this long'),
    flags: INT.min(0).max(255).optional().describe('authenticate: the user-presence byte'),
    counter: z
      .strictObject({ above: NUMBER_OR_VAR.optional(), equals: NUMBER_OR_VAR.optional() })
      .optional()
      .describe('authenticate: the signature counter'),
    error: INT.min(0).max(255).optional().describe('ctaphid, ble: the device answers ERROR with this code'),
    none: z.boolean().optional().describe('hid-report, ble-frame: nothing comes back within waitMs'),
    found: z.boolean().optional().describe('scan: the device advertises (FIDO service FFFD)'),
    pairingMode: z.boolean().optional().describe('scan: the pairing bit of its FFFD service data'),
  })
  .describe('what the step must see; a step without expect checks what its operation always checks');

/** The actions a step can take; each step has exactly one. */
export const ACTIONS = [
  'version',
  'register',
  'authenticate',
  'apdu',
  'raw-apdu',
  'ctaphid',
  'ble',
  'hid-report',
  'ble-frame',
  'press',
  'power-cycle',
  'tap',
  'chamber',
  'wait',
  'pairing-mode',
  'scan',
  'repeat',
] as const;
export type Action = (typeof ACTIONS)[number];

const CTAPHID_CMD = z.union([
  z.enum(['PING', 'MSG', 'LOCK', 'INIT', 'WINK', 'SYNC']),
  INT.min(0x80).max(0xff),
]);
const BLE_CMD = z.union([z.enum(['PING', 'MSG']), INT.min(0x80).max(0xff)]);

export interface Step {
  name?: string;
  presence?: 'press' | 'none';
  expect?: z.infer<typeof ExpectSchema>;
  capture?: Record<string, (typeof CAPTURE_FIELDS)[number]>;
  version?: 'iso' | 'legacy' | null | Record<string, never>;
  register?: { app?: string; challenge?: string; p1?: number } | null;
  authenticate?: {
    app?: string;
    challenge?: string;
    keyHandle: string;
    mode?: 'enforce' | 'check-only' | 'dont-enforce';
  };
  apdu?: string;
  'raw-apdu'?: string;
  ctaphid?: { cmd: z.infer<typeof CTAPHID_CMD>; data?: string };
  ble?: { cmd: z.infer<typeof BLE_CMD>; data?: string };
  'hid-report'?: { report: string; waitMs?: number };
  'ble-frame'?: { frame: string; waitMs?: number };
  press?: { holdMs?: number } | null;
  'power-cycle'?: null | Record<string, never>;
  tap?: null | Record<string, never>;
  chamber?: { celsius: number };
  wait?: number | string;
  'pairing-mode'?: boolean;
  scan?: { timeoutMs?: number } | null;
  repeat?: { count: number; steps: Step[] };
}

export const StepSchema: z.ZodType<Step> = z.lazy(() =>
  z
    .strictObject({
      name: z.string().optional().describe('a label for the report'),
      presence: z
        .enum(['press', 'none'])
        .optional()
        .describe(
          'register, authenticate: press (give presence when the device asks; default on USB and BLE) or none',
        ),
      expect: ExpectSchema.optional(),
      capture: z
        .record(VAR, z.enum(CAPTURE_FIELDS))
        .optional()
        .describe('variables to keep from the answer, e.g. { kh: keyHandle }'),
      version: z
        .union([z.enum(['iso', 'legacy']), EMPTY])
        .optional()
        .describe('U2F VERSION'),
      register: z
        .union([
          z.strictObject({
            app: VALUE.optional(),
            challenge: VALUE.optional(),
            p1: INT.min(0).max(255).optional(),
          }),
          z.null(),
        ])
        .optional()
        .describe('U2F REGISTER (app and challenge default to random)'),
      authenticate: z
        .strictObject({
          app: VALUE.optional(),
          challenge: VALUE.optional(),
          keyHandle: VALUE,
          mode: z.enum(['enforce', 'check-only', 'dont-enforce']).optional(),
        })
        .optional()
        .describe('U2F AUTHENTICATE (mode enforce by default)'),
      apdu: VALUE.optional().describe('a U2F message (command APDU) through the transport'),
      'raw-apdu': VALUE.optional().describe('NFC: a C-APDU as it is, no SELECT, chaining or GET RESPONSE'),
      ctaphid: z
        .strictObject({ cmd: CTAPHID_CMD, data: VALUE.optional() })
        .optional()
        .describe('USB: a CTAPHID command'),
      ble: z
        .strictObject({ cmd: BLE_CMD, data: VALUE.optional() })
        .optional()
        .describe('BLE: a FIDO BLE command'),
      'hid-report': z
        .strictObject({ report: VALUE, waitMs: INT.nonnegative().optional() })
        .optional()
        .describe(
          `USB: one raw 64-byte output report (zero-padded; \${cid} is the rig's channel), then the next input report within waitMs (default 1000)`,
        ),
      'ble-frame': z
        .strictObject({ frame: VALUE, waitMs: INT.nonnegative().optional() })
        .optional()
        .describe(
          'BLE: one raw frame to the control point, then the next notification within waitMs (default 1000)',
        ),
      press: z
        .union([z.strictObject({ holdMs: INT.positive().optional() }), z.null()])
        .optional()
        .describe("lab: press the chip's button (the station's actuator, or the operator)"),
      'power-cycle': EMPTY.optional().describe("lab: cut and restore the chip's power"),
      tap: EMPTY.optional().describe('lab, NFC: the card leaves the field and is tapped again'),
      chamber: z
        .strictObject({ celsius: z.number() })
        .optional()
        .describe('lab: settle the climate chamber here'),
      wait: DURATION.optional().describe('lab: wait this long'),
      'pairing-mode': z.boolean().optional().describe('lab, BLE: put the chip in or out of pairing mode'),
      scan: z
        .union([z.strictObject({ timeoutMs: INT.positive().optional() }), z.null()])
        .optional()
        .describe('BLE: scan for its FIDO advertisement'),
      repeat: z
        .strictObject({ count: INT.min(1).max(100_000), steps: z.array(StepSchema).min(1) })
        .optional()
        .describe(`the steps, count times; \${i} is the round (1, 2, ...)`),
    })
    .superRefine((step, ctx) => {
      const actions = ACTIONS.filter((a) => a in step);
      if (actions.length !== 1) {
        ctx.addIssue({
          code: 'custom',
          message:
            actions.length === 0
              ? `a step needs one action (${ACTIONS.join(', ')})`
              : `a step has one action, not ${actions.join(' and ')}`,
        });
      }
    }),
);

export const ScenarioSchema = z.strictObject({
  scenario: z.string().min(1).describe('the title'),
  id: z
    .string()
    .regex(/^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$/, 'an ID like SCN-LOGIN-USB (capitals, digits, dashes)')
    .describe('the ID the report and the conformance matrix use'),
  transport: z.enum(['hid', 'nfc', 'ble']),
  description: z.string().optional(),
  timeoutMs: INT.positive().optional().describe('the whole scenario takes at most this long (default 60000)'),
  steps: z.array(StepSchema).min(1),
});
export type Scenario = z.infer<typeof ScenarioSchema>;

/** The published JSON Schema (schemas/scenario.schema.json). */
export function scenarioJsonSchema(): unknown {
  return {
    ...z.toJSONSchema(ScenarioSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'chiprig scenario file',
  };
}
