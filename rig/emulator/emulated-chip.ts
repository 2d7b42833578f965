import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { toBytes } from '../bytes.ts';
import { ConfigError } from '../errors.ts';
import { packagePath } from '../paths.ts';
import type { HidDeviceInfo } from '../transport/hid/connection.ts';
import { parseCommandApdu } from '../transport/nfc/apdu.ts';
import { Authenticator, type CounterMode } from './authenticator.ts';
import { BatteryModel } from './battery.ts';
import { FidoBlePeripheral } from './ble/fido-peripheral.ts';
import type { DisputedChoices } from './disputed.ts';
import {
  type DeviceFaultName,
  type FaultName,
  type FuzzFaultName,
  HOSTILE_MANUFACTURER,
  HOSTILE_PRODUCT,
  isLinkFault,
  isTextFault,
} from './faults.ts';
import { EmulatedHidDevice } from './front-ends/hid.ts';
import { EmulatedCardConnection, NfcFrontEnd } from './front-ends/nfc.ts';
import { type CurrentTable, PowerModel } from './power-model.ts';
import { PresenceSource } from './presence.ts';
import { ThermalModel, type ThermalModelOptions } from './thermal.ts';
import type { LinkTiming } from './timing/link-model.ts';
import { BlePacer, HidPacer, NfcPacer } from './timing/pacers.ts';

export interface EmulatedChipOptions {
  vendorId: number;
  productId: number;
  manufacturer: string;
  product: string;
  serialNumber: string;
  /** bcdDevice (0x0100: release 1.00). */
  release?: number;
  /** The Device Information strings over BLE (firmware and hardware revision). */
  firmwareRevision?: string;
  hardwareRevision?: string;
  counter: CounterMode;
  channelRules: 'legacy' | 'strict';
  presenceWindowMs: number;
  /** Test firmware that approves every request by itself, with no press. */
  approvesByItself?: boolean;
  /** PEM files of the test attestation certificate and its key. */
  attestationCertificatePath: string;
  attestationKeyPath: string;
  masterKey?: Uint8Array;
  faults?: readonly FaultName[];
  /** Link timing models; absent: no link delay (every answer on the next microtask). */
  timing?: LinkTiming;
  /** Temperature behaviour (see ThermalModel); default: works from -15 C to 55 C. */
  thermal?: ThermalModelOptions;
  /** Supply current per state for a power meter; default DEFAULT_CURRENTS. */
  power?: Partial<CurrentTable>;
  /** Counter increments per NVM write (default 1: none lost on a power cut). */
  persistCounterEvery?: number;
  /**
   * Sanctioned answers on disputed points other than the counter scope and channel rules
   * (which `counter` and `channelRules` set); default: disputedChoices()'s defaults.
   */
  disputed?: Partial<DisputedChoices>;
}

/** `00 03 00 00 Le`: VERSION in short form (U2F-VER-07). */
function isShortVersion(apdu: Uint8Array): boolean {
  return apdu.length === 5 && apdu[0] === 0x00 && apdu[1] === 0x03;
}

/** The word a test attestation certificate's subject carries (fixtures/attestation). */
const TEST_MARK = /\bTEST\b/;

/** What the slower-than-profile fault makes every AUTHENTICATE take, in milliseconds. */
export const SLOW_AUTHENTICATE_MS = 900;

/** Firmware version reported in the CTAPHID INIT response of the emulated chip. */
export const EMULATOR_FIRMWARE = { major: 1, minor: 0, build: 0 };

/**
 * The built-in MitID chip: one authenticator core with its button, served over USB HID
 * (the same HidConnection interface as node-hid) and as a contactless card (the same
 * CardConnection as nfc-pcsc, or to pcscd through vpcd). Keys and counter are shared.
 */
export class EmulatedChip {
  readonly presence: PresenceSource;
  readonly authenticator: Authenticator;
  readonly hidInfo: HidDeviceInfo;
  readonly attestationCertificate: Uint8Array;
  readonly battery = new BatteryModel();
  readonly thermal: ThermalModel;
  readonly power: PowerModel;
  #powered = true;
  #batteryPowered = false;

  /** Runs `work` as the chip on its own battery (a BLE request). */
  #onBattery<T>(work: () => T): T {
    this.#batteryPowered = true;
    try {
      return work();
    } finally {
      this.#batteryPowered = false;
    }
  }
  /** The link timing models in force (with a fault's slowness folded in), if any. */
  readonly timing: LinkTiming | undefined;
  readonly #opts: EmulatedChipOptions;
  #hid: EmulatedHidDevice | undefined;
  #card: NfcFrontEnd | undefined;
  #ble: FidoBlePeripheral | undefined;

  constructor(opts: EmulatedChipOptions) {
    this.#opts = opts;
    this.timing = opts.faults?.includes('slower-than-profile')
      ? {
          ...opts.timing,
          processingMs: { ...opts.timing?.processingMs, authenticate: SLOW_AUTHENTICATE_MS },
        }
      : opts.timing;
    this.presence = new PresenceSource({
      windowMs: opts.presenceWindowMs,
      ...(opts.approvesByItself ? { approvesByItself: true } : {}),
    });
    const faults = opts.faults ?? [];
    this.thermal = new ThermalModel(
      faults.includes('stops-at-45c') ? { ...opts.thermal, worksUpToC: 45 } : opts.thermal,
    );
    const persistCounterEvery = faults.includes('counter-back-after-power-cut')
      ? 8
      : opts.persistCounterEvery;
    this.power = new PowerModel(opts.power);
    const attestation = faultyAttestation(faults) ?? {
      certificate: opts.attestationCertificatePath,
      key: opts.attestationKeyPath,
    };
    const certificate = readPem(attestation.certificate, 'certificate');
    const key = readPem(attestation.key, 'key');
    let parsed: X509Certificate;
    try {
      parsed = new X509Certificate(certificate);
    } catch (error) {
      throw new ConfigError(
        `emulator.attestation.certificate ${opts.attestationCertificatePath}: not a certificate`,
        {
          cause: error,
        },
      );
    }
    // The emulator signs only with keys marked as test keys: an emulated chip must never
    // produce attestations that pass for a real product's, and no production key belongs in
    // a test rig's files, output or reports.
    if (!TEST_MARK.test(parsed.subject)) {
      throw new ConfigError(
        `emulator.attestation.certificate ${opts.attestationCertificatePath}: subject "${parsed.subject.replace(/\n/g, ', ')}" is not marked as a test certificate (its CN must contain the word TEST); the emulator never signs with a production attestation key`,
      );
    }
    this.attestationCertificate = toBytes(parsed.raw);
    this.authenticator = new Authenticator({
      attestationCertificate: this.attestationCertificate,
      attestationKey: createPrivateKey(key),
      presence: this.presence,
      counterMode: opts.counter,
      disputed: {
        truncatedKeyHandle: opts.disputed?.['U2F-AUTH-07'],
        counterStep: opts.disputed?.['U2F-CTR-01'],
        registerWithoutLe: opts.disputed?.['U2F-REG-12'],
      },
      ...(opts.masterKey ? { masterKey: opts.masterKey } : {}),
      onSignature: () => {
        // Over USB the cable powers the chip and over NFC the reader's field does; only
        // Bluetooth signatures draw on the battery.
        if (this.#batteryPowered) this.battery.signed();
        this.power.signed();
      },
      condition: () => (this.thermal.working ? 'ok' : this.thermal.failure),
      ...(persistCounterEvery ? { persistCounterEvery } : {}),
      faults: (opts.faults ?? []).filter(
        (f): f is DeviceFaultName | FuzzFaultName => !isLinkFault(f) && !isTextFault(f),
      ),
    });
    const hostile = faults.includes('hostile-strings');
    this.hidInfo = {
      path: 'emulator',
      vendorId: opts.vendorId,
      productId: opts.productId,
      manufacturer: hostile ? HOSTILE_MANUFACTURER : opts.manufacturer,
      product: hostile ? HOSTILE_PRODUCT : opts.product,
      serialNumber: opts.serialNumber,
      ...(opts.release === undefined ? {} : { release: opts.release }),
      usagePage: 0xf1d0,
      usage: 0x01,
    };
  }

  /**
   * The chip's USB HID interface. While a host has it open, opening again gives the same
   * device; after the host closed it, a new handle with fresh CTAPHID state.
   */
  hid(): EmulatedHidDevice {
    if (this.#hid?.closed) this.#hid = undefined;
    this.#hid ??= new EmulatedHidDevice({
      info: this.hidInfo,
      handleApdu: (apdu) => this.#hidMessage(apdu),
      channelRules: this.#opts.channelRules,
      ...(this.#opts.disputed?.['HID-MSG-01'] ? { emptyMsg: this.#opts.disputed['HID-MSG-01'] } : {}),
      version: EMULATOR_FIRMWARE,
      ...(this.timing ? { pacer: new HidPacer(this.timing) } : {}),
      faults: {
        initNonceNotEchoed: this.#has('init-nonce-not-echoed'),
        ignoresBadSeq: this.#has('bad-cont-seq-accepted'),
        servesBroadcast: this.#has('msg-on-broadcast'),
        noFrameTimeout: this.#has('no-frame-timeout'),
        errorForUnknownIns: this.#has('msg-answered-with-error'),
        diesOnOversizedInit: this.#has('dies-on-oversized-init'),
        wedgesBusyAfterBadSeq: this.#has('wedges-busy-after-bad-seq'),
        firmware: this.#firmware,
      },
    });
    // Without power the chip is not on the bus: a host that opens it finds it gone.
    if (!this.#powered) this.#hid.disconnect();
    return this.#hid;
  }

  #hidMessages = 0;

  /** One U2F message over USB HID, with the link faults that act there. */
  #hidMessage(apdu: Uint8Array): Promise<Uint8Array> {
    const n = ++this.#hidMessages;
    if (n === 3 && this.#has('stops-answering-once')) {
      this.#hid?.hang();
      return new Promise(() => undefined);
    }
    if (n === 20 && this.#has('unplugged-mid-run')) {
      // Unplugged while working on it: no answer, and the USB device is gone for good.
      setImmediate(() => {
        this.setPower(false);
        this.#unplugged = true;
      });
      return new Promise(() => undefined);
    }
    // drops-response: VERSION is worked out and its answer lost; the chip stays responsive.
    if (this.#has('drops-response') && apdu[0] === 0x00 && apdu[1] === 0x03)
      return new Promise(() => undefined);
    // U2F-VER-07 (disputed): a short-form VERSION over USB may be a length error.
    if (this.#opts.disputed?.['U2F-VER-07'] === 'length-error' && isShortVersion(apdu))
      return Promise.resolve(Uint8Array.of(0x67, 0x00));
    const answer = this.#core(apdu);
    return answer ? Promise.resolve(answer) : new Promise(() => undefined);
  }

  /** unplugged-mid-run: the chip stays off whatever the power switch says. */
  #unplugged = false;
  /** dies-on-oversized-init and wedges-busy-after-bad-seq: firmware state across USB handles. */
  readonly #firmware = { dead: false, wedged: false, crashed: false };

  /**
   * The U2F core as every link calls it, with crashes-on-short-key-handle: an AUTHENTICATE
   * whose key-handle length byte promises more than the message carries crashes the chip
   * (undefined: no answer, on this link or any other, until the power is cut).
   */
  #core(apdu: Uint8Array, presence?: Parameters<Authenticator['process']>[1]): Uint8Array | undefined {
    if (this.#firmware.crashed) return undefined;
    if (this.#has('crashes-on-short-key-handle') && apdu[0] === 0x00 && apdu[1] === 0x02) {
      const parsed = parseCommandApdu(apdu);
      const data = parsed.ok ? parsed.apdu.data : undefined;
      if (data && data.length >= 65 && data[64]! > data.length - 65) {
        this.#firmware.crashed = true;
        return undefined;
      }
    }
    return this.authenticator.process(apdu, presence);
  }

  /**
   * Cuts power and restores it: the USB link drops (open transports see DISCONNECTED),
   * the CTAPHID state and any latched press are lost; keys and counter are kept, as the
   * chip keeps them in non-volatile memory.
   */
  powerCycle(): void {
    this.setPower(false);
    this.setPower(true);
  }

  get powered(): boolean {
    return this.#powered;
  }

  /**
   * The power switch (a relay in the USB power line): off drops the USB link and loses
   * RAM state (CTAPHID channels, a latched press, a counter not yet persisted); on
   * re-enumerates with fresh state. Keys and the persisted counter survive.
   */
  setPower(on: boolean): void {
    if (on === this.#powered || (on && this.#unplugged)) return;
    this.#powered = on;
    if (!on) {
      this.#firmware.wedged = false; // RAM state; a dead chip stays dead
      this.#firmware.crashed = false;
      this.#hid?.disconnect();
      this.presence.clear();
      this.authenticator.powerLost();
      this.power.setState('off');
      return;
    }
    this.power.setState('idle');
    // A handle the host closed stays closed; the next hid() opens a fresh one. (Reconnecting
    // it threw into the power switch's simulator, which then dropped every later pin write.)
    if (this.#hid && !this.#hid.closed) this.#hid.reconnect();
  }

  /** The chip as a FIDO BLE peripheral (needs a button press per signature). */
  blePeripheral(
    opts: { controlPointLength?: number; keepaliveMs?: number; presenceTimeoutMs?: number } = {},
  ) {
    this.#ble ??= new FidoBlePeripheral({
      core: (apdu, presence) => this.#onBattery(() => this.#core(apdu, presence) ?? new Uint8Array(0)),
      presence: this.presence,
      name: 'MitID chip',
      deviceInfo: {
        manufacturer: this.hidInfo.manufacturer ?? 'chiprig',
        model: this.hidInfo.product ?? 'Emulated MitID chip',
        serial: this.hidInfo.serialNumber ?? 'EMU-0001',
        firmware: this.#opts.firmwareRevision ?? '1.0.0',
        ...(this.#opts.hardwareRevision === undefined ? {} : { hardware: this.#opts.hardwareRevision }),
      },
      battery: () => this.battery.level,
      ...(this.timing?.ble ? { maxMtu: this.timing.ble.mtu } : {}),
      faults: {
        wrongContinuationSeq: this.#has('ble-wrong-seq'),
        noKeepalive: this.#has('ble-no-keepalive'),
        continuationsOutOfOrder: this.#has('ble-fragments-out-of-order'),
        silentUnknownCommand: this.#has('ble-silent-unknown-cmd'),
        silentStrayContinuation: this.#has('ble-silent-stray-cont'),
        crashesOnLongInit: this.#has('ble-crash-on-long-init'),
        firmware: this.#firmware,
        ...(this.#has('ble-cpl-10') ? { controlPointLengthReads: 10 } : {}),
        ...(this.#has('ble-revision-0') ? { revisionBitfieldReads: 0 } : {}),
      },
      disputed: {
        serviceRevision: this.#opts.disputed?.['BLE-GATT-04'],
        abandonedRequest: this.#opts.disputed?.['BLE-TMO-01'],
      },
      ...opts,
    });
    return this.#ble;
  }

  /** The chip as a contactless card (one card: the in-process reader and vpcd share it). */
  nfcCard(): NfcFrontEnd {
    this.#card ??= new NfcFrontEnd({
      core: (apdu, presence) => this.#core(apdu, presence) ?? new Uint8Array(0),
      button: this.presence,
      firmware: this.#firmware,
      disputed: {
        nineByteAid: this.#opts.disputed?.['NFC-SEL-03'],
        beforeSelect: this.#opts.disputed?.['NFC-SEL-05'],
        interruptedChain: this.#opts.disputed?.['NFC-CHAIN-03'],
      },
      faults: {
        selectAnswersFido2: this.#has('select-wrong-version'),
        getResponseRepeats: this.#has('get-response-broken'),
        muteOnStrayGetResponse: this.#has('nfc-mute-on-stray-get-response'),
      },
    });
    return this.#card;
  }

  /** The card in the field of an in-process reader. */
  cardConnection(): EmulatedCardConnection {
    const connection = new EmulatedCardConnection(
      this.nfcCard(),
      this.timing ? { pacer: new NfcPacer(this.timing) } : {},
    );
    if (this.#opts.faults?.includes('card-leaves-field')) this.#leaveFieldOnce(connection, 3);
    return connection;
  }

  #leftField = false;

  /** Link fault: during the nth REGISTER on NFC the card leaves the field (once per chip). */
  #leaveFieldOnce(connection: EmulatedCardConnection, nth: number): void {
    let registers = 0;
    const transmit = connection.transmit.bind(connection);
    connection.transmit = (apdu, opts) => {
      const isRegister = apdu[1] === 0x01 && ((apdu[0] ?? 0) & 0xef) === 0x00;
      if (this.#leftField || !isRegister || ++registers < nth) return transmit(apdu, opts);
      this.#leftField = true;
      connection.delayMs = 20;
      const answer = transmit(apdu, opts);
      setTimeout(() => connection.remove(), 5);
      return answer;
    };
  }

  /** Pacing for a BLE bindings object serving this chip (none without a timing model). */
  blePacer(): BlePacer | undefined {
    return this.timing ? new BlePacer(this.timing) : undefined;
  }

  #has(fault: FaultName): boolean {
    return this.#opts.faults?.includes(fault) ?? false;
  }

  pressButton(holdMs = 100): void {
    this.presence.press(holdMs);
  }
}

/** The attestation of the expired-attestation and wrong-curve-attestation faults. */
function faultyAttestation(faults: readonly FaultName[]): { certificate: string; key: string } | undefined {
  const name = faults.includes('expired-attestation')
    ? 'expired'
    : faults.includes('wrong-curve-attestation')
      ? 'p384'
      : undefined;
  if (!name) return undefined;
  const file = (part: string) => packagePath(`fixtures/attestation/faults/${name}-${part}.pem`);
  return { certificate: file('cert'), key: file('key') };
}

function readPem(path: string, what: string): string {
  try {
    return readFileSync(resolve(path), 'utf8');
  } catch (error) {
    throw new ConfigError(`emulator.attestation.${what}: cannot read ${path}`, { cause: error });
  }
}
