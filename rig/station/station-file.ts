import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { packagePath } from '../paths.ts';
import { transportKindSchema } from '../transport/kinds.ts';
import { PRESENCE_MODES } from '../u2f/presence.ts';
import { readYamlFile } from '../yaml-file.ts';

export const PresenceModeSchema = z.enum(PRESENCE_MODES);
export type PresenceMode = z.output<typeof PresenceModeSchema>;

const ms = z.number().nonnegative();
/** Frame sizes FSCI 0..8 code (ISO/IEC 14443-4). */
const FRAME_SIZES = [16, 24, 32, 40, 48, 64, 96, 128, 256];

/**
 * Link timing models of the emulated chip (rig/emulator/timing/link-model.ts): ground truth
 * for the rig's latency figures. Absent: no link delay at all (the default station).
 */
const TimingSchema = z.strictObject({
  /** The chip's own processing time per operation, milliseconds. */
  processingMs: z
    .strictObject({
      version: ms.optional(),
      register: ms.optional(),
      authenticate: ms.optional(),
      'check-only': ms.optional(),
      ping: ms.optional(),
      select: ms.optional(),
    })
    .default({}),
  /** USB full speed: interrupt endpoints polled every bInterval 1 ms frames. */
  hid: z.strictObject({ bInterval: z.number().int().min(1).max(255) }).optional(),
  /** ISO 14443 Type A: bit rate, frame waiting integer, largest block (FSC = FSD). */
  nfc: z
    .strictObject({
      bitRateKbps: z.union([z.literal(106), z.literal(212), z.literal(424)]).default(106),
      fwi: z.number().int().min(0).max(14).default(7),
      frameSize: z
        .number()
        .int()
        .refine((n) => FRAME_SIZES.includes(n), `must be one of ${FRAME_SIZES.join(', ')} (FSCI 0..8)`)
        .default(256),
    })
    .optional(),
  /** BLE: connection interval (7.5 ms to 4 s in 1.25 ms steps) and the ATT MTU the chip offers. */
  ble: z
    .strictObject({
      connectionIntervalMs: z
        .number()
        .min(7.5)
        .max(4000)
        .refine((v) => Number.isInteger(v / 1.25), 'must be a multiple of 1.25 ms'),
      mtu: z.number().int().min(23).max(517).default(23),
    })
    .optional(),
});

const IdentitySchema = z.strictObject({
  batch: z.string().min(1).optional(),
  hardwareRevision: z.string().min(1).optional(),
  firmwareBuild: z.string().min(1).optional(),
});

const EmulatorSchema = z.strictObject({
  usb: z.strictObject({
    vendorId: z.number().int().min(0).max(0xffff),
    productId: z.number().int().min(0).max(0xffff),
    /** bcdDevice: 0x0100 is release 1.00. */
    release: z.number().int().min(0).max(0xffff).default(0x0100),
  }),
  manufacturer: z.string().default('chiprig'),
  product: z.string().default('Emulated MitID chip'),
  serialNumber: z.string().default('EMU-0001'),
  /** The BLE Device Information firmware and hardware revision strings. */
  firmwareRevision: z.string().default('1.0.0'),
  hardwareRevision: z.string().default('A'),
  counter: z.enum(['global', 'per-credential']).default('global'),
  channelRules: z.enum(['legacy', 'strict']).default('legacy'),
  /**
   * The sanctioned answer the chip gives on disputed points (requirement ID → behaviour
   * name, rig/emulator/disputed.ts), so a run can prove each of them passes.
   */
  disputed: z.record(z.string(), z.string()).default({}),
  presenceWindowMs: z.number().int().positive().default(10_000),
  /** Test firmware that approves every request with no press (run it with presence: auto). */
  approvesByItself: z.boolean().default(false),
  attestation: z.strictObject({ certificate: z.string(), key: z.string() }),
  /** Which front-ends the emulated chip offers. */
  transports: z.array(transportKindSchema).min(1).default(['hid', 'nfc', 'ble']),
  /**
   * How the emulated chip is reached over BLE: noble with an in-process bindings object
   * (default), or noble's own HCI stack over a pty to the emulated controller (needs socat).
   */
  ble: z
    .strictObject({
      path: z.enum(['in-process', 'hci-pty']).default('in-process'),
      pty: z.string().default('/tmp/chiprig-hci-pty'),
      controlPointLength: z.number().int().min(20).max(512).default(20),
      keepaliveMs: z.number().int().positive().default(500),
      /** How long the chip waits for a press before it answers 6985. */
      presenceTimeoutMs: z.number().int().positive().default(2000),
    })
    .default({
      path: 'in-process',
      pty: '/tmp/chiprig-hci-pty',
      controlPointLength: 20,
      keepaliveMs: 500,
      presenceTimeoutMs: 2000,
    }),
  /**
   * How the emulated card is reached: in process (default), or served to pcscd through
   * vpcd and read back through nfc-pcsc like a real reader (needs pcscd + vsmartcard-vpcd).
   */
  nfc: z
    .strictObject({
      path: z.enum(['in-process', 'vpcd']).default('in-process'),
      vpcd: z.string().default('127.0.0.1:35963'),
      reader: z.string().default('Virtual PCD 00 00'),
    })
    .default({ path: 'in-process', vpcd: '127.0.0.1:35963', reader: 'Virtual PCD 00 00' }),
  /** Link timing models (in-process links only); absent: no link delay. */
  timing: TimingSchema.optional(),
  /** How the chip follows the chamber's air and where it stops working (rig/emulator/thermal.ts). */
  thermal: z
    .strictObject({
      timeConstantS: z.number().nonnegative().optional(),
      worksFromC: z.number().optional(),
      worksUpToC: z.number().optional(),
      failure: z.enum(['error-status', 'bad-signature']).optional(),
    })
    .optional(),
  /** Counter increments per NVM write (1: none lost on a power cut). */
  persistCounterEvery: z.number().int().positive().optional(),
});

/** A serial port path, or "simulated": the instrument's simulator on a pty, wired to the emulated chip. */
const port = z.string().min(1);

/**
 * Lab instruments (rig/instruments): the touch actuator presence uses, and the power switch,
 * climate chamber and power meter the environmental suites use. `manual`: an operator
 * prompt for each step (skipped where nobody is at a terminal).
 */
const InstrumentsSchema = z.strictObject({
  /** firmata: the board under `power` also presses the button (its buttonPin). */
  touch: z.strictObject({ kind: z.enum(['emulator-button', 'firmata', 'none']) }).optional(),
  power: z
    .discriminatedUnion('kind', [
      z.strictObject({
        kind: z.literal('firmata'),
        port,
        buttonPin: z.number().int().min(0).max(127).default(7),
        powerPin: z.number().int().min(0).max(127).default(8),
      }),
      z.strictObject({ kind: z.literal('manual') }),
    ])
    .optional(),
  chamber: z
    .discriminatedUnion('kind', [
      z.strictObject({
        kind: z.literal('watlow-f4'),
        port,
        baudRate: z.number().int().positive().default(19200),
        address: z.number().int().min(1).max(247).default(1),
        settle: z
          .strictObject({
            toleranceC: z.number().positive().default(1),
            soakMs: z.number().int().nonnegative().default(600_000),
            timeoutMs: z.number().int().positive().default(7_200_000),
            pollMs: z.number().int().positive().default(1000),
          })
          .default({ toleranceC: 1, soakMs: 600_000, timeoutMs: 7_200_000, pollMs: 1000 }),
        /** The simulator's ramp, C per minute (a real chamber: a few). */
        simulator: z.strictObject({ rampCPerMin: z.number().positive() }).optional(),
      }),
      z.strictObject({ kind: z.literal('manual') }),
    ])
    .optional(),
  meter: z
    .strictObject({
      kind: z.literal('ppk2'),
      port,
      mode: z.enum(['source', 'ampere']).default('source'),
      voltageMv: z.number().int().min(800).max(5000).default(3700),
      /** 100000 for a real PPK2; a simulator streams slower in real time. */
      sampleRateHz: z.number().int().positive().default(100_000),
    })
    .optional(),
});

export type InstrumentsConfig = z.output<typeof InstrumentsSchema>;

/** How the NFC transport encodes U2F messages for the reader. */
const NfcSchema = z.strictObject({
  apdu: z.enum(['auto', 'short', 'extended']).default('auto'),
  chunkSize: z.number().int().min(16).max(255).default(250),
  getResponseLe: z.enum(['sw2', 'zero']).default('sw2'),
});

/** A station file: which device, which profile, how presence is given, which instruments. */
export const StationFileSchema = z.strictObject({
  name: z.string().min(1),
  profile: z.string().min(1),
  device: z.string().min(1).default('emulator'),
  presence: PresenceModeSchema.optional(),
  /**
   * The host platform to judge the device's transports by (the profile's platforms), when
   * the station stands in for another: e.g. windows-11. Default: the host's own.
   */
  platform: z.string().min(1).optional(),
  timeouts: z
    .strictObject({
      exchangeMs: z.number().int().positive().default(3000),
      presenceMs: z.number().int().positive().optional(),
    })
    .default({ exchangeMs: 3000 }),
  emulator: EmulatorSchema.optional(),
  nfc: NfcSchema.default({ apdu: 'auto', chunkSize: 250, getResponseLe: 'sw2' }),
  /**
   * The Bluetooth controller noble uses for ble: devices: the host's adapter (default), or
   * an HCI-over-UART controller, "uart:PATH[@BAUD]" (a USB dongle with Zephyr's hci_uart).
   */
  ble: z.strictObject({ hci: z.string().optional() }).default({}),
  instruments: InstrumentsSchema.default({}),
  /**
   * Several devices under test on this station: `chiprig run` runs each in a worker process
   * of its own, in parallel, with this file for everything else (profile, policy, trust),
   * and merges their results. `device` above is then not used.
   */
  duts: z
    .array(
      z.strictObject({
        id: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only'),
        device: z.string().min(1),
        transports: z.array(transportKindSchema).min(1).optional(),
        identity: IdentitySchema.optional(),
      }),
    )
    .min(1)
    .optional(),
  /**
   * Run policy. A test broken by a link fault (timeout, disconnect: never a device failure)
   * is run again, up to linkFaultRetries times (default 0), after the link is reset; the
   * report records each retry. Per suite (u2f, hid, nfc, ble, env, perf, security): its own retries and a
   * time limit per test.
   */
  policy: z
    .strictObject({
      linkFaultRetries: z.number().int().min(0).max(5).default(0),
      suites: z
        .record(
          z.string(),
          z.strictObject({
            linkFaultRetries: z.number().int().min(0).max(5).optional(),
            timeoutMs: z.number().int().positive().optional(),
          }),
        )
        .default({}),
    })
    .default({ linkFaultRetries: 0, suites: {} }),
  /**
   * What the lab trusts: attestation root certificates (PEM, paths relative to this file)
   * that a device's attestation chain must end in (SEC-ATT-01).
   */
  trust: z
    .strictObject({
      attestationRoots: z.array(z.string().min(1)).default([]),
      /**
       * Roots an MDS3 BLOB's x5c chain may end at (PEM): the FIDO Metadata Service's root
       * for the real service, a test root for the emulated chip.
       */
      metadataRoots: z.array(z.string().min(1)).default([]),
    })
    .default({ attestationRoots: [], metadataRoots: [] }),
  /**
   * The station's own device's FIDO metadata (the metadata suite, MDS-*): its vendor's
   * metadata statement (.json) or an MDS3 BLOB (a JWT; the entry is found by the attestation
   * certificate's key identifier). Relative to this file. `chiprig run --metadata` overrides it.
   */
  metadata: z.string().min(1).optional(),
  /**
   * What the lab knows of the station's own device that no descriptor carries: its batch,
   * hardware revision and firmware build. Recorded with every result (the device identity).
   * Each DUT of a multi-device station may have its own.
   */
  identity: IdentitySchema.optional(),
  /**
   * The station's signing key (Ed25519, PKCS#8 PEM, relative to this file): `chiprig bundle`
   * signs an evidence bundle's manifest with it.
   */
  signing: z.strictObject({ key: z.string().min(1) }).optional(),
  /**
   * Where the station's results go: a PostgreSQL URL (postgres://user:password@host/db;
   * several stations may share one), or a SQLite file relative to this file. Default:
   * reports/chiprig-results.db. `chiprig run --db` overrides it.
   */
  results: z.strictObject({ database: z.string().min(1).optional() }).optional(),
  /**
   * `chiprig serve` on this station: the token every request needs when it listens on
   * another address than loopback (default: a new one, printed once at start).
   */
  serve: z
    .strictObject({
      token: z.string().min(16).optional(),
      /** HTTPS: the certificate (chain) and its private key, PEM, relative to this file. */
      tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
    })
    .optional(),
});

export type StationFile = z.output<typeof StationFileSchema> & { path: string; dir: string };
export type EmulatorConfig = z.output<typeof EmulatorSchema>;

export const DEFAULT_STATION = packagePath('fixtures/stations/emulated.yaml');

export function loadStationFile(path: string = DEFAULT_STATION): StationFile {
  const abs = resolve(path);
  const data = readYamlFile(abs, StationFileSchema, 'station file');
  return { ...data, path: abs, dir: dirname(abs) };
}
