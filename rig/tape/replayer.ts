import { fromHex, hex } from '../bytes.ts';
import { ReplayDivergedError } from '../errors.ts';
import { seedHostRandom } from '../random.ts';
import type {
  Advertisement,
  BleLink,
  GattLink,
  GattServiceInfo,
  PeripheralInfo,
} from '../transport/ble/connection.ts';
import type { HidConnection, HidDeviceInfo, UsbInterfaceInfo } from '../transport/hid/connection.ts';
import type { CardConnection } from '../transport/nfc/connection.ts';
import type { TransportKind } from '../transport/transport.ts';
import { type ExchangeLine, errorFrom, type Recording, type ResultLine, readRecording } from './format.ts';
import type { Tape } from './recorder.ts';

type Line = ExchangeLine & { line: number };

interface Call {
  send: Line;
  outcome?: Line;
  /** What the device did by itself after this call and before the next (notifications). */
  events: Line[];
}

interface Stream {
  calls: Call[];
  at: number;
  /** Events of the last call not yet delivered, with their timers. */
  pending: { line: Line; timer: NodeJS.Timeout }[];
  deliver?: (event: Line) => void;
}

/**
 * Plays a recording (format.ts) back as the device under test (`--device replay:FILE`).
 * Each host call must match the recording's next call on its transport (the operation and
 * every byte the host sends); it then gets the recorded outcome after the recorded time.
 * The rig's random choices are seeded per test from the recording, so the host sends the
 * same bytes as when it was recorded. A test that asks for anything else is broken with
 * the line it diverged at; the next test starts at its own first recorded exchange.
 */
export class Replayer implements Tape {
  readonly recording: Recording;
  readonly #seed: Uint8Array;
  readonly #streams: Record<TransportKind, Stream>;
  readonly #tests: Set<string>;
  #test: string | null = null;
  /** Recorded verdicts by test, for the comparison at the end of the run. */
  readonly recorded: Map<string, ResultLine>;
  /** What this run's tests ended with. */
  readonly replayed = new Map<string, ResultLine['result']>();
  /** Recorded exchanges the replaying host never asked for (skipped to resync). */
  skipped = 0;

  static load(path: string): Replayer {
    return new Replayer(readRecording(path));
  }

  constructor(recording: Recording) {
    this.recording = recording;
    this.#seed = fromHex(recording.header.seed);
    const stream = (): Stream => ({ calls: [], at: 0, pending: [] });
    this.#streams = { hid: stream(), nfc: stream(), ble: stream() };
    const byCall = new Map<string, Call>();
    for (const line of recording.exchanges) {
      const s = this.#streams[line.transport];
      if (line.dir === 'send') {
        const call: Call = { send: line, events: [] };
        s.calls.push(call);
        byCall.set(`${line.transport} ${line.call}`, call);
      } else if (line.dir === 'recv') {
        const call = byCall.get(`${line.transport} ${line.call}`);
        if (call) call.outcome = line;
      } else {
        s.calls.at(-1)?.events.push(line);
      }
    }
    this.#tests = new Set(recording.exchanges.map((l) => l.test).filter((t): t is string => t !== null));
    for (const r of recording.results) this.#tests.add(r.test);
    this.recorded = new Map(recording.results.map((r) => [r.test, r]));
    seedHostRandom(this.#seed, '(station)');
  }

  get header() {
    return this.recording.header;
  }

  beginTest(key: string): void {
    this.#test = key;
    seedHostRandom(this.#seed, key);
    // Resynchronise: whatever the last test left unasked is skipped, up to this test's first call.
    for (const s of Object.values(this.#streams)) {
      const next = s.calls.findIndex((c, i) => i >= s.at && c.send.test === key);
      if (next > s.at) {
        this.skipped += next - s.at;
        s.at = next;
      }
    }
  }

  endTest(): void {
    this.#test = null;
    seedHostRandom(this.#seed, '(between tests)');
  }

  result(key: string, result: ResultLine['result']): void {
    this.replayed.set(key, result);
  }

  /**
   * Tests whose verdict differs from the recording's, or that only one of them ran (of the
   * recording's, only those of `suites` count, when given).
   */
  differences(suites?: readonly string[]): { test: string; recorded: string; replayed: string }[] {
    const out: { test: string; recorded: string; replayed: string }[] = [];
    for (const [test, replayed] of this.replayed) {
      const recorded = this.recorded.get(test)?.result ?? '(not in the recording)';
      if (recorded !== replayed) out.push({ test, recorded, replayed });
    }
    for (const [test, r] of this.recorded) {
      if (suites && r.suite && !suites.includes(r.suite)) continue;
      if (!this.replayed.has(test)) out.push({ test, recorded: r.result, replayed: '(not run)' });
    }
    return out;
  }

  /** Takes the recorded call the host is making now, or throws ReplayDivergedError. */
  next(
    transport: TransportKind,
    op: string,
    sent: { hex?: string; match?: Record<string, unknown> } = {},
  ): Call {
    const s = this.#streams[transport];
    this.#flushEvents(s);
    const call = s.calls[s.at];
    const where = this.#test ?? 'outside any test';
    if (this.#test !== null && !this.#tests.has(this.#test)) {
      throw new ReplayDivergedError(
        `replay ${this.recording.path}: "${this.#test}" is not in the recording; replay runs only the tests that were recorded`,
      );
    }
    if (!call) {
      throw new ReplayDivergedError(
        `replay ${this.recording.path}: ${where} asked for ${transport} ${op}, but the recording has no ${transport} exchange left`,
      );
    }
    const r = call.send;
    const problem =
      r.test !== this.#test
        ? `the recording's next ${transport} exchange (line ${r.line}, ${r.op}) belongs to ${r.test ? `"${r.test}"` : 'no test'}`
        : r.op !== op
          ? `the recording has ${r.op} at line ${r.line}`
          : (sent.hex ?? null) !== (r.hex ?? null)
            ? `the host sent ${sent.hex || '(nothing)'} where the recording (line ${r.line}) has ${r.hex || '(nothing)'}`
            : mismatch(sent.match, r.data);
    if (problem) {
      throw new ReplayDivergedError(
        `replay diverged in ${where}: the host asked for ${transport} ${op}, but ${problem}`,
      );
    }
    s.at++;
    this.#schedule(s, call);
    return call;
  }

  /** The call's recorded outcome after its recorded time: the line, or its error thrown. */
  async outcome(call: Call): Promise<Line | undefined> {
    const o = call.outcome;
    if (!o) return undefined;
    await pause(o.t - call.send.t);
    if (o.error) throw errorFrom(o.error);
    return o;
  }

  #schedule(s: Stream, call: Call): void {
    for (const line of call.events) {
      const entry = {
        line,
        timer: setTimeout(
          () => {
            s.pending = s.pending.filter((p) => p !== entry);
            s.deliver?.(line);
          },
          Math.max(0, line.t - call.send.t),
        ),
      };
      s.pending.push(entry);
    }
  }

  /** Events recorded before the host's next call arrived before it: deliver them now. */
  #flushEvents(s: Stream): void {
    const due = s.pending;
    s.pending = [];
    for (const p of due) {
      clearTimeout(p.timer);
      s.deliver?.(p.line);
    }
  }

  #cancelEvents(transport: TransportKind): void {
    const s = this.#streams[transport];
    for (const p of s.pending) clearTimeout(p.timer);
    s.pending = [];
    s.deliver = undefined;
  }

  /** A close the recording has next is taken; a close it lacks is let pass (closing never diverges). */
  #close(transport: TransportKind): Promise<void> {
    const s = this.#streams[transport];
    const call = s.calls[s.at];
    if (call?.send.op === 'close' && call.send.test === this.#test) s.at++;
    this.#cancelEvents(transport);
    return Promise.resolve();
  }

  async openHid(): Promise<HidConnection> {
    const data = (await this.outcome(this.next('hid', 'open')))?.data ?? {};
    const has = (data.has as string[] | undefined) ?? [];
    const c: HidConnection = {
      info: data.info as HidDeviceInfo,
      write: async (report) => {
        await this.outcome(this.next('hid', 'write', { hex: hex(report) }));
      },
      read: async (_timeoutMs) => {
        const o = await this.outcome(this.next('hid', 'read'));
        return o?.hex ? fromHex(o.hex) : undefined;
      },
      close: () => this.#close('hid'),
    };
    if (has.includes('reportDescriptor')) {
      c.reportDescriptor = async () => {
        const o = await this.outcome(this.next('hid', 'reportDescriptor'));
        return o?.hex ? fromHex(o.hex) : undefined;
      };
    }
    if (has.includes('usbInterface')) {
      c.usbInterface = async () => {
        const o = await this.outcome(this.next('hid', 'usbInterface'));
        return (o?.data?.usb as UsbInterfaceInfo | null) ?? undefined;
      };
    }
    return c;
  }

  async openCard(): Promise<CardConnection> {
    const data = (await this.outcome(this.next('nfc', 'open')))?.data ?? {};
    const c: CardConnection & { remove?: () => void; tap?: () => void; delayMs?: number } = {
      reader: String(data.reader),
      atr: fromHex(String(data.atr ?? '')),
      ...(typeof data.extendedApdus === 'boolean' ? { extendedApdus: data.extendedApdus } : {}),
      transmit: async (apdu) => {
        const o = await this.outcome(this.next('nfc', 'transmit', { hex: hex(apdu) }));
        return fromHex(o?.hex ?? '');
      },
      close: () => this.#close('nfc'),
    };
    if (data.powerCycle === true) {
      c.powerCycle = async () => {
        await this.outcome(this.next('nfc', 'powerCycle'));
      };
    }
    if (data.movable === true) {
      // The recorded card was taken away and tapped by the rig: the recorded outcomes of the
      // calls around it already say what that did.
      c.remove = () => undefined;
      c.tap = () => undefined;
      c.delayMs = 0;
    }
    return c;
  }

  async openBle(): Promise<BleLink> {
    const data = (await this.outcome(this.next('ble', 'open')))?.data ?? {};
    const subscribers = new Map<string, (value: Uint8Array) => void>();
    const disconnectListeners = new Set<(reason: string) => void>();
    this.#streams.ble.deliver = (event) => {
      if (event.op === 'notify') {
        subscribers.get(String(event.data?.characteristic))?.(fromHex(event.hex ?? ''));
      } else if (event.op === 'disconnect') {
        for (const l of [...disconnectListeners]) l(String(event.data?.reason ?? 'disconnected'));
      }
    };
    const where = (service: string, characteristic: string) => ({ service, characteristic });
    const link: GattLink = {
      peripheral: data.peripheral as PeripheralInfo,
      mtu: Number(data.mtu ?? 23),
      services: async () =>
        ((await this.outcome(this.next('ble', 'services')))?.data?.services ?? []) as GattServiceInfo[],
      read: async (service, characteristic) => {
        const call = this.next('ble', 'read', { match: where(service, characteristic) });
        return fromHex((await this.outcome(call))?.hex ?? '');
      },
      write: async (service, characteristic, value, opts) => {
        const call = this.next('ble', 'write', {
          hex: hex(value),
          match: { ...where(service, characteristic), withoutResponse: opts?.withoutResponse === true },
        });
        await this.outcome(call);
      },
      subscribe: async (service, characteristic, onValue) => {
        const call = this.next('ble', 'subscribe', { match: where(service, characteristic) });
        subscribers.set(characteristic, onValue);
        await this.outcome(call);
        return async () => {
          subscribers.delete(characteristic);
          await this.outcome(this.next('ble', 'unsubscribe', { match: where(service, characteristic) }));
        };
      },
      onDisconnect: (listener) => {
        disconnectListeners.add(listener);
        return () => disconnectListeners.delete(listener);
      },
      close: () => this.#close('ble'),
    };
    return { link, close: () => link.close() };
  }

  async scan(timeoutMs: number): Promise<Advertisement[]> {
    void timeoutMs; // the recorded scan lasted what it lasted
    const o = await this.outcome(this.next('ble', 'scan'));
    const ads = (o?.data?.advertisements ?? []) as (Omit<Advertisement, 'serviceData'> & {
      serviceData: { uuid: string; data: string }[];
    })[];
    return ads.map((a) => ({
      ...a,
      serviceData: a.serviceData.map((d) => ({ uuid: d.uuid, data: fromHex(d.data) })),
    }));
  }
}

function mismatch(sent: Record<string, unknown> | undefined, recorded: Record<string, unknown> | undefined) {
  for (const [k, v] of Object.entries(sent ?? {})) {
    if (recorded?.[k] !== v)
      return `its ${k} is ${JSON.stringify(recorded?.[k])}, the host's ${JSON.stringify(v)}`;
  }
  return undefined;
}

/** Waits what the recorded call took; under a millisecond, just a turn of the event loop. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => (ms >= 1 ? setTimeout(resolve, ms) : setImmediate(resolve)));
}
