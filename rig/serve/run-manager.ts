/**
 * The runs chiprig serve starts: one at a time per station, each a `chiprig run` process of
 * its own (a run that hangs or crashes leaves the server alone; mocha loads suites once per
 * process), followed over its IPC channel, its results written by the run itself into the
 * results database. Serve keeps the live picture (tests, traffic, measurements, latency and
 * chamber series, prompts) for the pages and pushes every change to them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import type { RecordedMeasurement } from '../measure/run-record.ts';
import { CHIPRIG_BIN } from '../paths.ts';
import type { Outcome, TestRecord } from '../report/console.ts';
import { SUITES } from '../run/suites.ts';
import { EXAMPLES_DIR } from '../scenario/active.ts';
import { isTransportKind } from '../transport/kinds.ts';
import type { ChildMessage, ParentMessage, Reading } from './messages.ts';
import { shippedScenarios } from './station-view.ts';

/** What the page asks for: every field optional, checked here (a refusal names the field). */
export interface RunRequest {
  device?: string;
  suites?: string[];
  scenarios?: string[];
  transports?: string[];
  presence?: string;
  grep?: string;
  repeat?: number;
}

export interface LivePrompt {
  id: number;
  kind: 'operator' | 'presence';
  text: string;
  timeoutMs: number;
  /** Epoch milliseconds when it expires. */
  until: number;
}

export interface LiveRun {
  runId: string;
  /** 1-based, of `repeat`. */
  round: number;
  repeat: number;
  request: RunRequest;
  startedAt: number;
  state: 'starting' | 'running' | 'ended';
  exitCode: number | null;
  station?: string;
  device?: string;
  identity?: Record<string, string>;
  suites?: string[];
  presence?: string;
  total: number;
  tests: (TestRecord & { index: number; at: number })[];
  measurements: RecordedMeasurement[];
  traffic: string[];
  trafficDropped: number;
  latency: { at: number; ms: number }[];
  readings: Reading[];
  prompts: LivePrompt[];
  notes: string[];
  log: string[];
  counts?: Record<Outcome, number>;
  stopping: boolean;
}

const MAX_TRAFFIC = 400;
const MAX_LOG = 400;
const MAX_SERIES = 2000;
const STOP_GRACE_MS = 10_000;
/** chiprig run's exit code for a rig fault (rig/cli/exit-codes.ts): serve does not import the CLI. */
const EXIT_BROKEN = 3;

export interface RunManagerOptions {
  stationFile: string | undefined;
  /** The results database the runs write (file or URL). */
  database: string;
  /** Where each run's Allure results and report go: DIR/<run id>/. */
  runsDir: string;
  /** Is a page open to answer prompts? */
  operatorAvailable: () => boolean;
  /** Before a run starts: let go of the station (idle readings). After: take it again. */
  beforeRun: () => Promise<void>;
  afterRuns: () => void;
}

/** Events: 'update' (kind, data) for the pages. */
export class RunManager extends EventEmitter {
  current: LiveRun | undefined;
  /** A person at serve's own terminal can answer prompts too. */
  terminal = false;
  /** The last runs this server ran (newest last), for the page after a reload. */
  readonly recent: string[] = [];
  #child: ChildProcess | undefined;
  #remaining = 0;
  #stopAsked = false;
  readonly #opts: RunManagerOptions;

  constructor(opts: RunManagerOptions) {
    super();
    this.#opts = opts;
  }

  get busy(): boolean {
    return this.current !== undefined && this.current.state !== 'ended';
  }

  /** Checks a request; throws ConfigError naming what is wrong. */
  static check(req: RunRequest): RunRequest {
    const out: RunRequest = {};
    const list = (v: unknown, what: string): string[] | undefined => {
      if (v === undefined || v === null) return undefined;
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.length === 0 || x.length > 200)) {
        throw new ConfigError(`${what}: a list of names`);
      }
      return v.length > 0 ? (v as string[]) : undefined;
    };
    const text = (v: unknown, what: string): string | undefined => {
      if (v === undefined || v === null || v === '') return undefined;
      if (typeof v !== 'string' || v.length > 500 || /[\0\n\r]/.test(v))
        throw new ConfigError(`${what}: not a valid value`);
      return v;
    };
    const suites = list(req.suites, 'suites');
    const unknown = suites?.filter((s) => !(s in SUITES));
    if (unknown?.length)
      throw new ConfigError(`suites: no suite ${unknown.join(', ')} (${Object.keys(SUITES).join(', ')})`);
    if (suites) out.suites = suites;
    const transports = list(req.transports, 'transports');
    const bad = transports?.filter((t) => !isTransportKind(t));
    if (bad?.length) throw new ConfigError(`transports: not a transport: ${bad.join(', ')} (hid, nfc, ble)`);
    if (transports) out.transports = transports;
    // Scenarios by the name of a shipped file: the page names no path on this machine.
    const scenarios = list(req.scenarios, 'scenarios');
    const shipped = shippedScenarios();
    const unknownScenarios = scenarios?.filter((x) => !shipped.includes(x));
    if (unknownScenarios?.length) {
      throw new ConfigError(
        `scenarios: no shipped scenario ${unknownScenarios.join(', ')} (${shipped.join(', ')})`,
      );
    }
    if (scenarios) out.scenarios = scenarios;
    const device = text(req.device, 'device');
    if (device) out.device = device;
    const presence = text(req.presence, 'presence');
    if (presence && !['actuator', 'prompt', 'auto'].includes(presence)) {
      throw new ConfigError('presence: actuator, prompt or auto');
    }
    if (presence) out.presence = presence;
    const grep = text(req.grep, 'grep');
    if (grep) {
      try {
        new RegExp(grep);
      } catch (error) {
        throw new ConfigError(`grep: not a regular expression: ${(error as Error).message}`);
      }
      out.grep = grep;
    }
    const repeat = req.repeat === undefined || req.repeat === null ? 1 : Number(req.repeat);
    if (!Number.isInteger(repeat) || repeat < 1 || repeat > 100)
      throw new ConfigError('repeat: a whole number from 1 to 100');
    out.repeat = repeat;
    return out;
  }

  /** Starts a run (or `repeat` in a row). Refuses, with the reason, while one is going. */
  async start(request: RunRequest): Promise<LiveRun> {
    if (this.busy) {
      const c = this.current!;
      throw new RunRefused(
        `a run is already going on this station (run ${c.runId.slice(0, 8)}, started ${new Date(c.startedAt).toISOString()}${c.repeat > 1 ? `, round ${c.round} of ${c.repeat}` : ''}): stop it or wait for its end`,
      );
    }
    const req = RunManager.check(request);
    this.#remaining = (req.repeat ?? 1) - 1;
    this.#stopAsked = false;
    await this.#opts.beforeRun();
    return this.#spawn(req, 1);
  }

  #spawn(req: RunRequest, round: number): LiveRun {
    const runId = randomUUID();
    const dir = join(resolve(this.#opts.runsDir), runId);
    const args = [
      CHIPRIG_BIN,
      'run',
      ...(this.#opts.stationFile ? ['--station', this.#opts.stationFile] : []),
      ...(req.device ? ['--device', req.device] : []),
      ...(req.suites ? ['--suite', req.suites.join(',')] : []),
      ...(req.transports ? ['--transport', req.transports.join(',')] : []),
      ...(req.presence ? ['--presence', req.presence] : []),
      ...(req.grep ? ['--grep', req.grep] : []),
      ...(req.scenarios ? ['--scenario', ...req.scenarios.map((x) => join(EXAMPLES_DIR, x))] : []),
      '--results',
      join(dir, 'allure-results'),
      '--report',
      join(dir, 'allure-report'),
    ];
    const live: LiveRun = {
      runId,
      round,
      repeat: req.repeat ?? 1,
      request: req,
      startedAt: Date.now(),
      state: 'starting',
      exitCode: null,
      total: 0,
      tests: [],
      measurements: [],
      traffic: [],
      trafficDropped: 0,
      latency: [],
      readings: [],
      prompts: [],
      notes: [],
      log: [],
      stopping: false,
    };
    this.current = live;
    this.recent.push(runId);
    if (this.recent.length > 50) this.recent.shift();
    const child = spawn(process.execPath, args, {
      // The database by environment, not argument: a URL's password stays out of `ps`.
      env: {
        ...process.env,
        CHIPRIG_RESULTS_DB: this.#opts.database,
        CHIPRIG_RUN_ID: runId,
        CHIPRIG_SERVE_LINK: '1',
        FORCE_COLOR: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.#child = child;
    const lines = (stream: NodeJS.ReadableStream) => {
      let rest = '';
      stream.on('data', (chunk: Buffer) => {
        const parts = (rest + chunk.toString()).split('\n');
        rest = parts.pop() ?? '';
        for (const line of parts) this.#log(live, line);
      });
      stream.on('end', () => rest && this.#log(live, rest));
    };
    lines(child.stdout!);
    lines(child.stderr!);
    child.on('message', (m: ChildMessage) => this.#onMessage(live, m));
    child.on('spawn', () => this.#tellOperator());
    let ended = false;
    child.on('error', (error) => {
      this.#log(live, `chiprig serve: cannot start the run: ${error.message}`);
      // A process that never started sends no 'close' of its own.
      if (child.pid === undefined) child.emit('close', EXIT_BROKEN, null);
    });
    child.on('close', (code, signal) => {
      if (ended) return;
      ended = true;
      live.state = 'ended';
      live.exitCode = code ?? (signal ? 128 : EXIT_BROKEN);
      live.prompts = [];
      this.#child = undefined;
      this.emit('update', 'ended', { runId, exitCode: live.exitCode, signal });
      if (this.#remaining > 0 && !this.#stopAsked) {
        this.#remaining--;
        this.#spawn(req, round + 1);
        this.emit('update', 'snapshot', undefined);
      } else this.#opts.afterRuns();
    });
    this.emit('update', 'snapshot', undefined);
    return live;
  }

  #log(live: LiveRun, line: string): void {
    live.log.push(line);
    if (live.log.length > MAX_LOG) live.log.splice(0, live.log.length - MAX_LOG);
    this.emit('update', 'log', { line });
  }

  #onMessage(live: LiveRun, m: ChildMessage): void {
    switch (m.t) {
      case 'start':
        live.state = 'running';
        live.station = m.station;
        live.device = m.device;
        live.identity = m.identity;
        live.suites = m.suites;
        live.presence = m.presence;
        this.emit('update', 'snapshot', undefined);
        return;
      case 'note':
        live.notes.push(m.text);
        this.emit('update', 'note', { text: m.text });
        return;
      case 'test': {
        const t = { ...m.record, index: m.index, at: Date.now() };
        live.tests.push(t);
        live.total = m.total;
        live.traffic = [];
        live.trafficDropped = 0;
        // A presence prompt belongs to the test that asked: it ended.
        const closed = live.prompts.filter((p) => p.kind === 'presence');
        live.prompts = live.prompts.filter((p) => p.kind !== 'presence');
        for (const p of closed) this.emit('update', 'prompt-closed', { id: p.id, why: 'done' });
        this.emit('update', 'test', { test: t, total: m.total });
        return;
      }
      case 'measurement':
        live.measurements.push(m.measurement);
        this.emit('update', 'measurement', { measurement: m.measurement });
        return;
      case 'traffic':
        live.traffic.push(...m.lines);
        live.trafficDropped += m.dropped;
        if (live.traffic.length > MAX_TRAFFIC) {
          live.trafficDropped += live.traffic.length - MAX_TRAFFIC;
          live.traffic.splice(0, live.traffic.length - MAX_TRAFFIC);
        }
        this.emit('update', 'traffic', { lines: m.lines, dropped: m.dropped });
        return;
      case 'latency': {
        const points = m.points.map((p) => ({ at: p.at, ms: p.ms }));
        live.latency.push(...points);
        if (live.latency.length > MAX_SERIES) live.latency.splice(0, live.latency.length - MAX_SERIES);
        this.emit('update', 'latency', { points });
        return;
      }
      case 'reading':
        this.addReading(m.reading);
        return;
      case 'prompt': {
        const p: LivePrompt = {
          id: m.id,
          kind: m.kind,
          text: m.text,
          timeoutMs: m.timeoutMs,
          until: Date.now() + m.timeoutMs,
        };
        live.prompts = live.prompts.filter((x) => !(x.kind === 'presence' && p.kind === 'presence'));
        live.prompts.push(p);
        this.emit('update', 'prompt', { prompt: p });
        return;
      }
      case 'prompt-closed':
        live.prompts = live.prompts.filter((p) => p.id !== m.id);
        this.emit('update', 'prompt-closed', { id: m.id, why: m.why });
        return;
      case 'end':
        live.counts = m.counts;
        this.emit('update', 'counts', { counts: m.counts });
        return;
    }
  }

  /** A reading, from the run or from the idle station. */
  addReading(r: Reading): void {
    const live = this.current;
    if (live && live.state !== 'ended') {
      live.readings.push(r);
      if (live.readings.length > MAX_SERIES) live.readings.splice(0, live.readings.length - MAX_SERIES);
    }
    this.emit('update', 'reading', { reading: r });
  }

  /** The page's answer to a prompt. False: no such prompt stands (already answered, timed out). */
  answer(id: number, text: string): boolean {
    const live = this.current;
    const p = live?.prompts.find((x) => x.id === id);
    if (!live || !p || !this.#child?.connected) return false;
    live.prompts = live.prompts.filter((x) => x.id !== id);
    this.#send({ t: 'answer', id, text: text.slice(0, 200) });
    this.emit('update', 'prompt-closed', { id, why: 'answered' });
    return true;
  }

  /** Stops the run (marked interrupted by the run itself) and any rounds left. */
  stop(): boolean {
    const child = this.#child;
    if (!child || !this.current) return false;
    this.#stopAsked = true;
    this.current.stopping = true;
    this.#send({ t: 'stop' });
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    kill.unref();
    child.once('close', () => clearTimeout(kill));
    this.emit('update', 'snapshot', undefined);
    return true;
  }

  /** Tells the run whether a page is open to answer its prompts. */
  #tellOperator(): void {
    this.#send({ t: 'operator', available: this.terminal || this.#opts.operatorAvailable() });
  }

  operatorChanged(): void {
    this.#tellOperator();
  }

  #send(m: ParentMessage): void {
    const child = this.#child;
    if (child?.connected) child.send(m, () => undefined);
  }

  /** The server is going down: the run goes with it (marked interrupted by itself). */
  async shutdown(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#stopAsked = true;
    const closed = new Promise<void>((r) => child.once('close', () => r()));
    this.#send({ t: 'stop' });
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await closed;
    clearTimeout(kill);
  }
}

/** A run start refused (another run is going): HTTP 409 with the reason. */
export class RunRefused extends Error {}
