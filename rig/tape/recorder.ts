import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { hex } from '../bytes.ts';
import { seedHostRandom } from '../random.ts';
import type { Advertisement, BleLink, GattLink } from '../transport/ble/connection.ts';
import type { HidConnection } from '../transport/hid/connection.ts';
import { type CardConnection, isMovableCard } from '../transport/nfc/connection.ts';
import type { TransportKind } from '../transport/transport.ts';
import {
  type ExchangeLine,
  errorRecord,
  RECORDING_FORMAT,
  RECORDING_VERSION,
  type RecordingHeader,
  type ResultLine,
} from './format.ts';

/** What the station and the suites tell a recording or a replay: where the tests begin and end. */
export interface Tape {
  beginTest(key: string): void;
  endTest(): void;
  /** A test's verdict (chiprig run, at 'test end'). */
  result(key: string, result: ResultLine['result'], message?: string, suite?: string): void;
}

type Fields = Pick<ExchangeLine, 'hex' | 'data' | 'error'>;

/**
 * Writes every exchange of a run to a JSON Lines file (format.ts). It sits between the
 * transports and the links: each host call on a HID connection, card connection or GATT
 * link is a "send" line, its outcome a "recv" line, so a replay can stand in for the
 * device at the same seam. Lines reach the disk at the end of every test (and every 2,000
 * lines), so a run that is killed keeps what it finished.
 */
export class Recorder implements Tape {
  readonly path: string;
  readonly seed: Uint8Array;
  #fd: number;
  #pending: string[] = [];
  #headerWritten = false;
  readonly #origin = performance.now();
  readonly #calls: Record<TransportKind, number> = { hid: 0, nfc: 0, ble: 0 };
  #test: string | null = null;
  /** Exchange lines written (sends, outcomes, events). */
  exchanges = 0;

  constructor(path: string) {
    this.path = path;
    mkdirSync(dirname(path), { recursive: true });
    this.#fd = openSync(path, 'w');
    this.seed = new Uint8Array(randomBytes(32));
    seedHostRandom(this.seed, '(station)');
  }

  /** The first line; what was recorded before it (opening the station) follows it. */
  header(fields: Omit<RecordingHeader, 'format' | 'version' | 'seed'>): void {
    const header: RecordingHeader = {
      format: RECORDING_FORMAT,
      version: RECORDING_VERSION,
      ...fields,
      seed: hex(this.seed),
    };
    this.#pending.unshift(JSON.stringify(header));
    this.#headerWritten = true;
    this.flush();
  }

  beginTest(key: string): void {
    this.flush();
    this.#test = key;
    seedHostRandom(this.seed, key);
  }

  endTest(): void {
    this.#test = null;
    seedHostRandom(this.seed, '(between tests)');
  }

  result(key: string, result: ResultLine['result'], message?: string, suite?: string): void {
    const line: ResultLine = {
      t: this.#now(),
      test: key,
      result,
      ...(message ? { message } : {}),
      ...(suite ? { suite } : {}),
    };
    this.#pending.push(JSON.stringify(line));
    this.flush();
  }

  note(note: string): void {
    this.#push({ t: this.#now(), test: this.#test, dir: 'note', note });
  }

  flush(): void {
    if (!this.#headerWritten || this.#pending.length === 0 || this.#fd < 0) return;
    writeSync(this.#fd, `${this.#pending.join('\n')}\n`);
    this.#pending = [];
  }

  close(): void {
    if (this.#fd < 0) return;
    this.flush();
    closeSync(this.#fd);
    this.#fd = -1;
    seedHostRandom(undefined);
  }

  /** A host call: its send line now, its outcome line when it settles (errors rethrown). */
  track<T>(
    transport: TransportKind,
    op: string,
    sent: Fields,
    run: () => Promise<T>,
    outcome: (value: T) => Fields | undefined,
  ): Promise<T> {
    const call = this.#send(transport, op, sent);
    return run().then(
      (value) => {
        const fields = outcome(value);
        if (fields) this.#outcome(transport, op, call, fields);
        return value;
      },
      (error: unknown) => {
        this.#outcome(transport, op, call, { error: errorRecord(error) });
        throw error;
      },
    );
  }

  event(transport: TransportKind, op: string, fields: Fields): void {
    this.exchanges++;
    this.#push({ t: this.#now(), test: this.#test, transport, dir: 'event', op, ...fields });
  }

  #send(transport: TransportKind, op: string, fields: Fields): number {
    const call = ++this.#calls[transport];
    this.exchanges++;
    this.#push({ t: this.#now(), test: this.#test, transport, dir: 'send', op, call, ...fields });
    return call;
  }

  #outcome(transport: TransportKind, op: string, call: number, fields: Fields): void {
    this.exchanges++;
    this.#push({ t: this.#now(), test: this.#test, transport, dir: 'recv', op, call, ...fields });
  }

  #push(line: object): void {
    this.#pending.push(JSON.stringify(line));
    if (this.#pending.length >= 2000) this.flush();
  }

  #now(): number {
    return Math.round((performance.now() - this.#origin) * 1000) / 1000;
  }

  // The seams, wrapped. Each wrapper keeps the optional parts of the interface it wraps, so
  // the recorded run takes the same paths as one that is not recorded.

  openHid(open: () => Promise<HidConnection>): Promise<HidConnection> {
    return this.track('hid', 'open', {}, open, (c) => ({
      data: {
        info: { ...c.info },
        has: ['reportDescriptor', 'usbInterface'].filter((m) => typeof (c as never)[m] === 'function'),
      },
    })).then((c) => recordingHid(c, this));
  }

  openCard(open: () => Promise<CardConnection>): Promise<CardConnection> {
    return this.track('nfc', 'open', {}, open, (c) => ({
      data: {
        reader: c.reader,
        atr: hex(c.atr),
        ...(c.extendedApdus !== undefined ? { extendedApdus: c.extendedApdus } : {}),
        movable: isMovableCard(c),
        powerCycle: typeof c.powerCycle === 'function',
      },
    })).then((c) => recordingCard(c, this));
  }

  openBle(open: () => Promise<BleLink>): Promise<BleLink> {
    return this.track('ble', 'open', {}, open, (l) => ({
      data: { peripheral: { ...l.link.peripheral }, mtu: l.link.mtu },
    })).then((l) => ({ link: recordingGatt(l.link, this), close: l.close }));
  }

  scan(timeoutMs: number, run: () => Promise<Advertisement[]>): Promise<Advertisement[]> {
    return this.track('ble', 'scan', { data: { timeoutMs } }, run, (ads) => ({
      data: {
        advertisements: ads.map((a) => ({
          ...a,
          serviceData: a.serviceData.map((d) => ({ uuid: d.uuid, data: hex(d.data) })),
        })),
      },
    }));
  }
}

function recordingHid(inner: HidConnection, rec: Recorder): HidConnection {
  const c: HidConnection = {
    info: inner.info,
    write: (report) => rec.track('hid', 'write', { hex: hex(report) }, () => inner.write(report), noOutcome),
    read: (timeoutMs) =>
      rec.track(
        'hid',
        'read',
        { data: { timeoutMs } },
        () => inner.read(timeoutMs),
        (r) => ({ hex: r ? hex(r) : null }),
      ),
    close: () => rec.track('hid', 'close', {}, () => inner.close(), noOutcome),
  };
  if (inner.reportDescriptor) {
    const get = inner.reportDescriptor.bind(inner);
    c.reportDescriptor = () =>
      rec.track('hid', 'reportDescriptor', {}, get, (d) => ({ hex: d ? hex(d) : null }));
  }
  if (inner.usbInterface) {
    const get = inner.usbInterface.bind(inner);
    c.usbInterface = () => rec.track('hid', 'usbInterface', {}, get, (u) => ({ data: { usb: u ?? null } }));
  }
  return c;
}

function recordingCard(inner: CardConnection, rec: Recorder): CardConnection {
  const c: CardConnection & Partial<Record<'remove' | 'tap', () => void>> = {
    reader: inner.reader,
    get atr() {
      return inner.atr;
    },
    ...(inner.extendedApdus !== undefined ? { extendedApdus: inner.extendedApdus } : {}),
    transmit: (apdu, opts) =>
      rec.track(
        'nfc',
        'transmit',
        { hex: hex(apdu) },
        () => inner.transmit(apdu, opts),
        (r) => ({ hex: hex(r) }),
      ),
    close: () => rec.track('nfc', 'close', {}, () => inner.close(), noOutcome),
  };
  if (inner.powerCycle) {
    const cycle = inner.powerCycle.bind(inner);
    c.powerCycle = () => rec.track('nfc', 'powerCycle', {}, cycle, noOutcome);
  }
  if (isMovableCard(inner)) {
    // The rig takes the emulated card away and taps it back: notes for the reader of the
    // recording; on replay the outcomes of the calls around them carry their effect.
    c.remove = () => {
      rec.note('card taken out of the field');
      inner.remove();
    };
    c.tap = () => {
      rec.note('card tapped');
      inner.tap();
    };
    Object.defineProperty(c, 'delayMs', {
      get: () => inner.delayMs,
      set: (v: number) => {
        inner.delayMs = v;
      },
      enumerable: true,
    });
  }
  return c;
}

function recordingGatt(inner: GattLink, rec: Recorder): GattLink {
  // Recorded once per link, whoever listens.
  inner.onDisconnect((reason) => rec.event('ble', 'disconnect', { data: { reason } }));
  const where = (service: string, characteristic: string) => ({ service, characteristic });
  return {
    peripheral: inner.peripheral,
    get mtu() {
      return inner.mtu;
    },
    services: (opts) =>
      rec.track(
        'ble',
        'services',
        {},
        () => inner.services(opts),
        (s) => ({ data: { services: s } }),
      ),
    read: (service, characteristic, opts) =>
      rec.track(
        'ble',
        'read',
        { data: where(service, characteristic) },
        () => inner.read(service, characteristic, opts),
        (v) => ({ hex: hex(v) }),
      ),
    write: (service, characteristic, data, opts) =>
      rec.track(
        'ble',
        'write',
        {
          hex: hex(data),
          data: { ...where(service, characteristic), withoutResponse: opts?.withoutResponse === true },
        },
        () => inner.write(service, characteristic, data, opts),
        noOutcome,
      ),
    subscribe: (service, characteristic, onValue, opts) =>
      rec
        .track(
          'ble',
          'subscribe',
          { data: where(service, characteristic) },
          () =>
            inner.subscribe(
              service,
              characteristic,
              (value) => {
                rec.event('ble', 'notify', { hex: hex(value), data: where(service, characteristic) });
                onValue(value);
              },
              opts,
            ),
          noOutcome,
        )
        .then(
          (unsubscribe) => () =>
            rec.track('ble', 'unsubscribe', { data: where(service, characteristic) }, unsubscribe, noOutcome),
        ),
    onDisconnect: (listener) => inner.onDisconnect(listener),
    close: () => rec.track('ble', 'close', {}, () => inner.close(), noOutcome),
  };
}

/** Calls whose success carries nothing: only a failure gets an outcome line. */
const noOutcome = (): undefined => undefined;
