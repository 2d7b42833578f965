import { z } from 'zod';
import { readYamlFile } from './yaml-file.ts';

const range = z
  .object({ min: z.number(), max: z.number() })
  .refine((r) => r.min <= r.max, 'min must be <= max');
const transport = z.enum(['hid', 'nfc', 'ble']);
const sw = z.number().int().min(0).max(0xffff);

/** The device profile: spec-sheet facts and the expectations the suites check. */
/** An upper limit with an optional marginal threshold below it. */
const ceiling = z
  .strictObject({ max: z.number().positive(), marginal: z.number().positive().optional() })
  .refine((c) => c.marginal === undefined || c.marginal <= c.max, 'marginal must be <= max');
/** A lower limit with an optional marginal threshold above it. */
const floor = z
  .strictObject({ min: z.number().nonnegative(), marginal: z.number().nonnegative().optional() })
  .refine((c) => c.marginal === undefined || c.marginal >= c.min, 'marginal must be >= min');
const operationLimits = z.strictObject({
  version: ceiling.optional(),
  register: ceiling.optional(),
  authenticate: ceiling.optional(),
  'check-only': ceiling.optional(),
  ping: ceiling.optional(),
  select: ceiling.optional(),
});

/** Performance limits the perf suite checks (PERF-*): defaults a lab edits for its chips. */
const PerformanceSchema = z.strictObject({
  /** Samples per operation and transport in a latency case. */
  samples: z.number().int().min(5).max(100_000).default(20),
  /** How long the throughput case runs per transport, ms. */
  throughputMs: z.number().int().positive().default(1000),
  /** Limits on the p99 of each operation's device time (button actuation excluded), ms. */
  latencyP99Ms: z.strictObject({
    hid: operationLimits.optional(),
    nfc: operationLimits.optional(),
    ble: operationLimits.optional(),
  }),
  /** Sustained verified AUTHENTICATE signatures per second. */
  throughputPerS: z.strictObject({ hid: floor.optional(), nfc: floor.optional(), ble: floor.optional() }),
});

export const DeviceProfileSchema = z.strictObject({
  id: z.string().min(1),
  name: z.string().min(1),
  summary: z.string().optional(),
  physical: z.strictObject({
    sizeMm: z.strictObject({
      length: z.number().positive(),
      width: z.number().positive(),
      height: z.number().positive(),
    }),
    housing: z.array(z.string()),
    expectedLifetimeYears: z.number().positive(),
    priceDkk: z.number().nonnegative().optional(),
  }),
  environment: z.strictObject({
    operatingTemperatureC: range,
    storageTemperatureC: range,
    /** Points of the operating sweep (ENV-TEMP-*), C; default: the range's ends, 0, 25 and 40. */
    sweepC: z.array(z.number()).min(1).optional(),
  }),
  battery: z.strictObject({
    capacityMah: z.number().positive(),
    rechargeable: z.boolean(),
    chargedBy: z.array(z.string()),
    /** What the battery suites require of the projections from the power meter (ENV-BATT-*). */
    expect: z
      .strictObject({
        signaturesPerCharge: z.strictObject({ min: z.number().positive() }).optional(),
        standbyDays: z.strictObject({ min: z.number().positive() }).optional(),
      })
      .optional(),
  }),
  certification: z.array(z.string()),
  algorithms: z.strictObject({ signature: z.literal('ECDSA-P256'), hash: z.literal('SHA-256') }),
  protocols: z.array(z.string()),
  transports: z.strictObject({
    hid: z
      .strictObject({ presence: z.literal('button'), cableSupplied: z.boolean(), charges: z.boolean() })
      .optional(),
    nfc: z
      .strictObject({
        presence: z.literal('tap'),
        buttonBlocksNfc: z.boolean(),
        maxApduMs: z.number().positive(),
      })
      .optional(),
    ble: z
      .strictObject({
        presence: z.literal('button'),
        pairingRequired: z.boolean(),
        bluetoothVersion: z.string(),
      })
      .optional(),
  }),
  /**
   * Which transports work on which host platform (spec sheet), with a note saying why one is
   * missing. A bare list is short for { transports: LIST }.
   */
  platforms: z.record(
    z.string().regex(/^[a-z0-9-]+$/, 'a platform name in lowercase, e.g. windows-11'),
    z
      .union([
        z.array(transport),
        z.strictObject({ transports: z.array(transport), note: z.string().optional() }),
      ])
      .transform((p) => (Array.isArray(p) ? { transports: p } : p)),
  ),
  browsers: z.array(z.string()),
  u2f: z.strictObject({
    version: z.literal('U2F_V2'),
    ctap2: z.boolean(),
    authenticateModes: z.array(z.enum(['enforce', 'check-only', 'dont-enforce'])),
    counterScope: z.enum(['global', 'per-credential', 'any']),
    counterStep: z.enum(['plus-one', 'increasing']),
    keyHandleLength: range,
    truncatedKeyHandleSw: z.array(sw).min(1),
    shortVersionOverHidSw: z.array(sw).min(1),
    attestation: z.strictObject({
      curve: z.literal('P-256'),
      signatureAlgorithm: z.literal('ecdsa-with-SHA256'),
      transports: z.array(z.enum(['bluetoothRadio', 'bluetoothLowEnergyRadio', 'usb', 'nfc', 'usbInternal'])),
    }),
  }),
  hid: z.strictObject({
    usagePage: z.number().int(),
    usage: z.number().int(),
    reportSize: z.literal(64),
    protocolVersion: z.number().int(),
    capabilities: z.strictObject({
      wink: z.boolean(),
      lock: z.boolean(),
      cbor: z.boolean(),
      nmsg: z.boolean(),
    }),
    channelRules: z.enum(['legacy', 'strict']),
    frameTimeoutMs: range,
    lockMaxSeconds: z.number().int().min(0).max(255),
    emptyMsg: z.enum(['invalid-len', 'apdu-status']),
  }),
  presence: z.strictObject({ timeoutMs: z.number().int().positive(), pollMs: z.number().int().positive() }),
  performance: PerformanceSchema.optional(),
});

export type DeviceProfile = z.output<typeof DeviceProfileSchema>;

export function loadDeviceProfile(path: string): DeviceProfile {
  return readYamlFile(path, DeviceProfileSchema, 'device profile');
}
