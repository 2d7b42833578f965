import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { packagePath } from '../paths.ts';
import { requirements } from '../requirements/requirements.ts';
import { type TransportKind, transportKindSchema } from '../transport/kinds.ts';
import { readYamlFile } from '../yaml-file.ts';

const range = z
  .object({ min: z.number(), max: z.number() })
  .refine((r) => r.min <= r.max, 'min must be <= max');
const transport = transportKindSchema;

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
  /** Samples per operation and transport in a latency case (the first look). */
  samples: z.number().int().min(5).max(100_000).default(20),
  /**
   * The most samples a latency case may take while the p99's interval straddles its limit
   * (at 95 % the interval's upper end needs 368 samples); past it the case is inconclusive.
   * At 400 that upper end is the largest sample, so one stall of the host (a GC pause, a
   * busy core) leaves a fast device undecided; the sample count doubles while undecided,
   * and at 1280 the upper end allows for six such stalls.
   */
  maxSamples: z.number().int().min(5).max(100_000).default(1600),
  /** How long the throughput case runs per transport, ms (the first look). */
  throughputMs: z.number().int().positive().default(1000),
  /** The longest the throughput case may run while its interval straddles the floor, ms. */
  maxThroughputMs: z.number().int().positive().default(4000),
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
  physical: z
    .strictObject({
      sizeMm: z.strictObject({
        length: z.number().positive(),
        width: z.number().positive(),
        height: z.number().positive(),
      }),
      housing: z.array(z.string()),
      expectedLifetimeYears: z.number().positive(),
      priceDkk: z.number().nonnegative().optional(),
    })
    .optional(),
  environment: z
    .strictObject({
      operatingTemperatureC: range,
      storageTemperatureC: range,
      /** Points of the operating sweep (ENV-TEMP-*), C; default: the range's ends, 0, 25 and 40. */
      sweepC: z.array(z.number()).min(1).optional(),
    })
    .optional(),
  battery: z
    .strictObject({
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
    })
    .optional(),
  certification: z.array(z.string()).default([]),
  algorithms: z.strictObject({ signature: z.literal('ECDSA-P256'), hash: z.literal('SHA-256') }),
  protocols: z.array(z.string()).default([]),
  transports: z.strictObject({
    hid: z
      .strictObject({ presence: z.literal('button'), cableSupplied: z.boolean(), charges: z.boolean() })
      .optional(),
    nfc: z
      .strictObject({
        presence: z.literal('tap'),
        buttonBlocksNfc: z.boolean().optional(),
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
  platforms: z
    .record(
      z.string().regex(/^[a-z0-9-]+$/, 'a platform name in lowercase, e.g. windows-11'),
      z
        .union([
          z.array(transport),
          z.strictObject({ transports: z.array(transport), note: z.string().optional() }),
        ])
        .transform((p) => (Array.isArray(p) ? { transports: p } : p)),
    )
    .default({}),
  browsers: z.array(z.string()).default([]),
  u2f: z.strictObject({
    version: z.literal('U2F_V2'),
    ctap2: z.boolean(),
    authenticateModes: z.array(z.enum(['enforce', 'check-only', 'dont-enforce'])),
    counterScope: movedToDisputed('U2F-CTR-04'),
    counterStep: movedToDisputed('U2F-CTR-01'),
    keyHandleLength: range,
    truncatedKeyHandleSw: movedToDisputed('U2F-AUTH-07'),
    shortVersionOverHidSw: movedToDisputed('U2F-VER-07'),
    attestation: z.strictObject({
      curve: z.literal('P-256'),
      signatureAlgorithm: z.literal('ecdsa-with-SHA256'),
      /** fidoU2FTransports bits the certificate must list when it has the extension; absent: recorded. */
      transports: z
        .array(z.enum(['bluetoothRadio', 'bluetoothLowEnergyRadio', 'usb', 'nfc', 'usbInternal']))
        .optional(),
    }),
  }),
  hid: z.strictObject({
    usagePage: z.number().int(),
    usage: z.number().int(),
    reportSize: z.literal(64),
    protocolVersion: z.number().int(),
    /**
     * The INIT capability bits the vendor documents. Absent: the device's own bits are
     * recorded, and WINK and LOCK are judged by them (GH test_OptionalWink, test_Lock).
     */
    capabilities: z
      .strictObject({
        wink: z.boolean(),
        lock: z.boolean(),
        cbor: z.boolean(),
        nmsg: z.boolean(),
      })
      .optional(),
    channelRules: movedToDisputed('HID-INIT-03, HID-CID-03 and HID-INIT-05'),
    frameTimeoutMs: range,
    lockMaxSeconds: z.number().int().min(0).max(255),
    emptyMsg: movedToDisputed('HID-MSG-01'),
  }),
  presence: z.strictObject({ timeoutMs: z.number().int().positive(), pollMs: z.number().int().positive() }),
  performance: PerformanceSchema.optional(),
  /**
   * Attestation roots the vendor publishes for this device (PEM files, relative to the
   * profile). SEC-ATT-01 judges the chain against the station's roots for its own device,
   * these otherwise, and is skipped with the reason when there are none.
   */
  attestationRoots: z.array(z.string().min(1)).optional(),
  /**
   * Disputed points (fixtures/requirements.yaml, strength disputed) this device's vendor
   * documents: requirement ID -> the sanctioned behaviour the device must show, and the
   * document that states it. Points not listed accept every sanctioned behaviour.
   */
  disputed: z
    .record(
      z.string(),
      z.strictObject({
        expect: z.string().regex(/^[a-z0-9-]+$/),
        source: z.string().min(3, 'name the vendor document (and section) that states this choice'),
      }),
    )
    .optional(),
});

/**
 * A choice the public anchors disagree on, which profiles once pinned without a source: now
 * a disputed point, narrowed only under `disputed:` with the vendor's document.
 */
function movedToDisputed(ids: string) {
  return z
    .unknown()
    .optional()
    .refine(
      (v) => v === undefined,
      `no longer a profile setting: the public suites disagree here (${ids}, strength disputed in the requirements file), so every sanctioned answer passes; narrow it under "disputed:" with the vendor document that states the choice, or remove the key`,
    )
    .transform(() => undefined);
}

export type DeviceProfile = z.output<typeof DeviceProfileSchema>;

export function loadDeviceProfile(path: string): DeviceProfile {
  const profile = readYamlFile(path, DeviceProfileSchema, 'device profile');
  for (const [id, narrowing] of Object.entries(profile.disputed ?? {})) {
    const req = requirements().get(id);
    if (!req?.sanctioned) {
      throw new ConfigError(
        `device profile ${path}: disputed.${id}: not a disputed requirement (the disputed ones: ${requirements()
          .list.filter((r) => r.sanctioned)
          .map((r) => r.id)
          .join(', ')})`,
      );
    }
    const names = req.sanctioned.map((b) => b.name);
    if (!names.includes(narrowing.expect)) {
      throw new ConfigError(
        `device profile ${path}: disputed.${id}.expect: "${narrowing.expect}" is not a sanctioned behaviour of ${id} (use one of: ${names.join(', ')})`,
      );
    }
  }
  return profile;
}

/** The profiles chiprig ships (fixtures/devices/NAME.yaml), for --profile NAME. */
export const PROFILES_DIR = packagePath('fixtures/devices/');

/** The profile for a device its station does not identify as its own. */
export const GENERIC_PROFILE = 'generic-u2f';

/** `--profile NAME|FILE`: a shipped profile by name, or a YAML file. */
export function profilePath(nameOrFile: string): string {
  if (/^[a-z0-9-]+$/.test(nameOrFile)) {
    const shipped = join(PROFILES_DIR, `${nameOrFile}.yaml`);
    if (existsSync(shipped)) return shipped;
    const names = readdirSync(PROFILES_DIR)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => f.slice(0, -5));
    throw new ConfigError(
      `--profile: no shipped profile "${nameOrFile}" (shipped: ${names.join(', ')}); or give a profile file's path`,
    );
  }
  return resolve(nameOrFile);
}

/** The behaviour a profile narrows a disputed point to (its vendor documents it), if any. */
export function narrowedTo(profile: DeviceProfile, id: string): string | undefined {
  return profile.disputed?.[id]?.expect;
}

/** A profile figure kept per transport (performance limits): the one for `kind`, if any. */
export function forTransport<T>(
  perKind: Partial<Record<'hid' | 'nfc' | 'ble', T>> | undefined,
  kind: TransportKind,
): T | undefined {
  return (perKind as Partial<Record<TransportKind, T>> | undefined)?.[kind];
}
