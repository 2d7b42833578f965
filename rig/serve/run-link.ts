/**
 * The run's side of chiprig serve: a `chiprig run` that serve started (over an IPC channel,
 * CHIPRIG_SERVE_LINK=1) tells serve what happens as it happens, and takes the page's
 * answers to its prompts. Everything it sends is plain data (messages.ts); device text is
 * sent as it is and escaped by the page.
 */
import { type RemoteOperator, setRemoteOperator } from '../instruments/operator.ts';
import type { RunListener } from '../run/engine.ts';
import type { Station } from '../station/station.ts';
import type { TrafficEntry } from '../traffic.ts';
import type { ChildMessage, ParentMessage, Reading } from './messages.ts';

/** How often the live traffic, latency and readings go out, at most. */
const FLUSH_MS = 250;
/** Traffic lines per flush; the rest are counted (a soak makes thousands a second). */
const LINES_PER_FLUSH = 40;
const READ_EVERY_MS = 1000;

export function serveLinkWanted(): boolean {
  return process.env.CHIPRIG_SERVE_LINK === '1' && typeof process.send === 'function';
}

export function serveLink(): RunListener & { close(): void } {
  const send = (m: ChildMessage) => {
    if (process.connected) process.send!(m);
  };
  let available = false;
  let nextPrompt = 1;
  const waiting = new Map<number, { resolve: (text: string) => void; kind: 'operator' | 'presence' }>();
  let station: Station | undefined;
  let lines: string[] = [];
  let dropped = 0;
  let latency: { at: number; ms: number; layer: string }[] = [];
  const sent = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let reader: NodeJS.Timeout | undefined;
  let reading = false;

  const onMessage = (m: ParentMessage) => {
    if (m.t === 'operator') available = m.available;
    if (m.t === 'answer') {
      const w = waiting.get(m.id);
      if (!w) return;
      waiting.delete(m.id);
      // A touch answered in the page presses the emulated chip's button (a real key is
      // touched by the person; the device's approval is what the rig waits for).
      if (w.kind === 'presence') station?.emulator?.pressButton();
      w.resolve(m.text);
    }
  };
  process.on('message', onMessage);
  // The channel must not keep the run's process alive once the run is done.
  process.channel?.unref();

  const remote: RemoteOperator = {
    get available() {
      return available && process.connected === true;
    },
    prompt(text, timeoutMs, kind) {
      const id = nextPrompt++;
      let resolve!: (text: string) => void;
      const answer = new Promise<string>((r) => {
        resolve = r;
      });
      waiting.set(id, { resolve, kind });
      send({ t: 'prompt', id, kind, text, timeoutMs });
      return {
        answer,
        close(why) {
          if (!waiting.delete(id) && why !== 'answered') return;
          send({ t: 'prompt-closed', id, why });
        },
      };
    },
  };
  setRemoteOperator(remote);

  const flush = () => {
    if (lines.length > 0 || dropped > 0) send({ t: 'traffic', lines, dropped });
    if (latency.length > 0) send({ t: 'latency', points: latency });
    lines = [];
    dropped = 0;
    latency = [];
  };

  const tap = (e: TrafficEntry) => {
    if (lines.length < LINES_PER_FLUSH) {
      lines.push(
        `${(e.atMs / 1000).toFixed(3).padStart(9)} ${e.dir.padEnd(4)} ${e.layer.padEnd(8)} ${e.dir === 'note' ? (e.note ?? '') : e.hex}${e.note && e.dir !== 'note' ? `  ${e.note}` : ''}`,
      );
    } else dropped++;
    // The latency plot: each request's answer time on the U2F message layer.
    if (e.dir === 'send') sent.set(e.layer, e.atMs);
    else if (e.dir === 'recv') {
      const at = sent.get(e.layer);
      if (at !== undefined && latency.length < 50 && e.layer === 'apdu') {
        latency.push({ at: Date.now(), ms: e.atMs - at, layer: e.layer });
      }
      sent.delete(e.layer);
    }
  };

  /**
   * The instruments a suite opened: the chamber's temperature and set point (read: its driver
   * queues reads behind the suite's), the switch's last state (no I/O), and the meter's last
   * window (what the suite measured: a window of our own would cut into the suite's).
   */
  let meterSeen: { currentUa: number } | undefined;
  const wrapped = new WeakSet<object>();
  const readInstruments = async () => {
    if (reading || !station) return;
    reading = true;
    try {
      const i = station.instruments;
      const r: Reading = { at: Date.now() };
      if (i.meter && !wrapped.has(i.meter)) {
        wrapped.add(i.meter);
        const meter = i.meter;
        const measure = meter.measure.bind(meter);
        meter.measure = async (ms, opts) => {
          const m = await measure(ms, opts);
          meterSeen = { currentUa: m.meanUa };
          return m;
        };
      }
      if (i.chamber) {
        r.chamber = {
          temperature: await i.chamber.readTemperature(),
          setPoint: await i.chamber.readSetPoint(),
        };
      }
      const powered = (i.power as { powered?: boolean | undefined } | undefined)?.powered;
      if (powered !== undefined) r.power = { on: powered };
      if (meterSeen) r.meter = meterSeen;
      if (r.chamber || r.power || r.meter) send({ t: 'reading', reading: r });
    } catch {
      // An instrument read that fails here is the suite's to report; the plot skips a point.
    } finally {
      reading = false;
    }
  };

  return {
    onStart(s) {
      station = s.station;
      station.traffic.tap = tap;
      timer = setInterval(flush, FLUSH_MS);
      reader = setInterval(() => void readInstruments(), READ_EVERY_MS);
      send({
        t: 'start',
        station: s.station.name,
        device: s.station.deviceSpec.text,
        identity: s.station.identity,
        suites: s.suites,
        presence: s.station.presence.mode,
      });
    },
    onNote(text) {
      send({ t: 'note', text });
    },
    onTest(record, index, total) {
      flush();
      send({ t: 'test', record, index, total });
    },
    onMeasurement(m) {
      send({ t: 'measurement', measurement: m });
    },
    onEnd(o) {
      flush();
      send({ t: 'end', counts: o.counts, durationMs: o.durationMs });
    },
    close() {
      if (timer) clearInterval(timer);
      if (reader) clearInterval(reader);
      if (station) station.traffic.tap = undefined;
      setRemoteOperator(undefined);
      process.off('message', onMessage);
    },
  };
}
