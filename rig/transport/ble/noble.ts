import { createRequire } from 'node:module';
import type { Characteristic, Noble, Peripheral } from '@stoprocent/noble';
import { withDeadline } from '../../deadline.ts';
import { TransportError } from '../../errors.ts';
import type { TrafficLog } from '../../traffic.ts';
import type {
  Advertisement,
  GattCallOptions,
  GattLink,
  GattServiceInfo,
  PeripheralInfo,
} from './connection.ts';
import { GattError } from './connection.ts';

/**
 * The noble adapter: the only file that loads @stoprocent/noble. It is an optional
 * dependency with a native HCI socket binding, loaded on first use and never at module
 * load. Its package entry builds the platform's default bindings on import (and so loads
 * the native module), which is why the pieces under lib/ are required one by one: Path A
 * (in-process bindings) then never touches native code.
 */
export type NobleSource =
  | { kind: 'default' }
  | { kind: 'bindings'; bindings: object }
  | { kind: 'hci-uart'; port: string; baudRate?: number };

export type { Noble };

type NobleClass = new (bindings: object) => Noble;
type WithBindings = (type: string, options?: object) => Noble;

function load<T>(what: string, hint: string): T {
  const require = createRequire(import.meta.url);
  try {
    return require(`@stoprocent/noble/lib/${what}`) as T;
  } catch (error) {
    throw new TransportError(
      'UNAVAILABLE',
      `BLE access is unavailable: @stoprocent/noble did not load (${(error as Error).message}); ${hint}`,
      { cause: error },
    );
  }
}

/** A noble central over the host adapter, a bindings object (Path A), or an HCI controller on a UART. */
export function createNoble(source: NobleSource): Noble {
  const reinstall = 'reinstall it with "npm install @stoprocent/noble"';
  if (source.kind === 'bindings') {
    const NobleCtor = load<NobleClass>('noble', reinstall);
    return new NobleCtor(source.bindings);
  }
  const withBindings = load<WithBindings>('resolve-bindings', reinstall);
  try {
    if (source.kind === 'default') return withBindings('default');
    // 1 Mbaud is what Zephyr's hci_uart and most HCI dongles run at.
    const uart = { port: source.port, baudRate: source.baudRate ?? 1_000_000 };
    const noble = withBindings('hci', { hciDriver: 'uart', bindParams: { uart } });
    // Only power-on failures need to know: the usual hint ("use --hci uart:PATH") is moot here.
    uartOf.set(noble, `no HCI controller answered on ${uart.port} at ${uart.baudRate} baud`);
    return noble;
  } catch (error) {
    const native = 'its HCI socket binding (@stoprocent/bluetooth-hci-socket) did not load';
    throw new TransportError(
      'UNAVAILABLE',
      `BLE access is unavailable: ${native}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

const uartOf = new WeakMap<Noble, string>();

const STATE_HINTS: Record<string, string> = {
  poweredOff: 'no Bluetooth adapter, or it is down? use --hci uart:PATH',
  unsupported: 'the adapter does not do Bluetooth LE; use --hci uart:PATH',
  unauthorized: 'no permission for the HCI socket: run with CAP_NET_RAW,CAP_NET_ADMIN or sudo',
  unknown: 'the adapter never answered; use --hci uart:PATH',
};

/** Resolves once the adapter is poweredOn; 'unsupported' and 'unauthorized' fail at once. */
export function whenPoweredOn(noble: Noble, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let last = 'unknown';
    const fail = () => {
      cleanup();
      const message = `BLE access is unavailable: adapter is ${last}: ${uartOf.get(noble) ?? STATE_HINTS[last] ?? 'use --hci uart:PATH'}`;
      reject(new TransportError('UNAVAILABLE', message));
    };
    const onState = (state: string) => {
      last = state;
      if (state === 'poweredOn') {
        cleanup();
        resolve();
      } else if (state === 'unsupported' || state === 'unauthorized') fail();
    };
    const timer = setTimeout(fail, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      noble.removeListener('stateChange', onState);
    };
    // Listen first: reading `state` starts the bindings, which may answer synchronously.
    noble.on('stateChange', onState);
    if (noble.state !== 'unknown') onState(noble.state);
  });
}

function toAdvertisement(p: Peripheral): Advertisement {
  const adv = p.advertisement as Peripheral['advertisement'] & { flags?: unknown };
  return {
    id: p.id,
    address: p.address,
    ...(adv.localName ? { localName: adv.localName } : {}),
    serviceUuids: [...(adv.serviceUuids ?? [])],
    serviceData: (adv.serviceData ?? []).map((d) => ({ uuid: d.uuid, data: new Uint8Array(d.data) })),
    connectable: p.connectable,
    rssi: p.rssi,
    // noble's HCI GAP drops the Flags AD; a binding that reports it (ours) is passed through.
    ...(typeof adv.flags === 'number' ? { flags: adv.flags } : {}),
  };
}

/** Scans until `timeoutMs` passes or `until` says enough; each advertiser once, latest data. */
async function scan(
  noble: Noble,
  filter: string,
  timeoutMs: number,
  until?: (adv: Advertisement) => boolean,
): Promise<Peripheral[]> {
  const seen = new Map<string, Peripheral>();
  await whenPoweredOn(noble, timeoutMs);
  await new Promise<void>((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      noble.removeListener('discover', onDiscover);
    };
    const done = () => {
      cleanup();
      noble.stopScanning();
      resolve();
    };
    const onDiscover = (p: Peripheral) => {
      seen.set(p.id, p);
      if (until?.(toAdvertisement(p))) done();
    };
    const timer = setTimeout(done, timeoutMs);
    noble.on('discover', onDiscover);
    // allowDuplicates so a later advertisement (e.g. pairing-mode flags) updates the entry.
    noble.startScanning(filter ? [filter] : [], true, (error?: Error | null) => {
      if (!error) return;
      cleanup();
      reject(new TransportError('UNAVAILABLE', `BLE scan did not start: ${error.message}`, { cause: error }));
    });
  });
  return [...seen.values()];
}

/** What advertisers of `serviceUuid` (default FIDO 'fffd'; '' for all) a scan of `timeoutMs` saw. */
export async function scanFido(
  noble: Noble,
  opts: { timeoutMs: number; serviceUuid?: string },
): Promise<Advertisement[]> {
  const found = await scan(noble, opts.serviceUuid ?? 'fffd', opts.timeoutMs);
  return found.map(toAdvertisement);
}

function matches(target: string, adv: Advertisement): boolean {
  const t = target.toLowerCase();
  return adv.id === t.replace(/:/g, '') || adv.address.toLowerCase() === t || adv.localName === target;
}

/**
 * Finds `target` (noble id, address or local name) by scanning, connects, discovers every
 * service and characteristic, and returns the link. `timeoutMs` bounds the whole set-up;
 * `callTimeoutMs` is the link's default per-call deadline.
 */
export async function connectGatt(
  noble: Noble,
  target: string,
  opts: { timeoutMs: number; callTimeoutMs?: number; log?: TrafficLog },
): Promise<GattLink> {
  const deadline = Date.now() + opts.timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  const seen = (await scan(noble, '', left(), (a) => matches(target, a))).map((p) => ({
    p,
    adv: toAdvertisement(p),
  }));
  const peripheral = seen.find((s) => matches(target, s.adv))?.p;
  if (!peripheral) {
    const list = seen.map(({ adv }) => `${adv.localName ?? '(no name)'} ${adv.address || adv.id}`).join(', ');
    throw new TransportError(
      'NOT_FOUND',
      `BLE peripheral ${target} not found in ${opts.timeoutMs} ms (seen: ${list || 'nothing'})`,
    );
  }
  const step = <T>(what: string, run: Promise<T>) => bleDeadline(what, run, left());
  try {
    await step(`connect to ${target}`, peripheral.connectAsync());
    // One service at a time: discoverAllServicesAndCharacteristics never calls back for a
    // peripheral with no services, and noble keeps one callback per event name.
    const services = await step('discover services', peripheral.discoverServicesAsync([]));
    const chars = new Map<string, Characteristic>();
    for (const service of services) {
      const list = await step(`discover ${service.uuid}`, service.discoverCharacteristicsAsync([]));
      for (const c of list) chars.set(`${service.uuid}/${c.uuid}`, c);
    }
    opts.log?.note(
      'gatt',
      `connected to ${peripheral.address || peripheral.id}, MTU ${peripheral.mtu ?? 23}`,
    );
    return new NobleGattLink(peripheral, services, chars, {
      callTimeoutMs: opts.callTimeoutMs ?? 5000,
      log: opts.log,
    });
  } catch (error) {
    if (peripheral.state === 'connecting') peripheral.cancelConnect();
    else if (peripheral.state === 'connected') peripheral.disconnect();
    throw error instanceof TransportError
      ? error
      : new TransportError('UNAVAILABLE', `BLE connection to ${target} failed: ${(error as Error).message}`, {
          cause: error,
        });
  }
}

function bleDeadline<T>(what: string, run: Promise<T>, ms: number): Promise<T> {
  return withDeadline(run, ms, () => new TransportError('TIMEOUT', `BLE ${what}: no answer in ${ms} ms`));
}

/** Releases the adapter (stops scanning, drops links, closes the HCI socket) so the process can exit. */
export async function stop(noble: Noble): Promise<void> {
  noble.removeAllListeners('discover');
  try {
    noble.stop();
  } catch {
    // The HCI binding throws from stop() when it was never started: nothing to release.
  }
  // Let the binding's last events (disconnect, poweredOff) land before the caller moves on.
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/** BlueZ (dbus binding) names its ATT failures instead of giving the code. */
const BLUEZ_ATT: Record<string, number> = {
  NotAuthorized: 0x08,
  InvalidValueLength: 0x0d,
  NotSupported: 0x06,
};

/** noble's error for a GATT answer → GattError with the ATT code, when it is one. */
function gattError(what: string, error: Error): Error {
  const attCode = (error as { attCode?: unknown }).attCode;
  if (typeof attCode === 'number') return new GattError(attCode, `BLE ${what} refused: ${error.message}`);
  const bluez = /org\.bluez\.Error\.(\w+)/.exec(error.message)?.[1];
  if (bluez === 'NotPermitted')
    return new GattError(what.startsWith('read') ? 0x02 : 0x03, `BLE ${what}: ${error.message}`);
  if (bluez && BLUEZ_ATT[bluez]) return new GattError(BLUEZ_ATT[bluez], `BLE ${what}: ${error.message}`);
  return new TransportError('FRAMING', `BLE ${what} failed: ${error.message}`, { cause: error });
}

/**
 * A GattLink over one connected noble Peripheral. Calls run one at a time, because ATT
 * allows one outstanding request per bearer (Core Vol 3 Part F 3.3.2) and because noble
 * keeps one callback per event name: two overlapping writes to one characteristic would
 * leave the first unanswered. A call that times out frees the queue.
 */
class NobleGattLink implements GattLink {
  readonly peripheral: PeripheralInfo;
  readonly #p: Peripheral;
  readonly #services: GattServiceInfo[];
  readonly #chars: Map<string, Characteristic>;
  readonly #opts: { callTimeoutMs: number; log: TrafficLog | undefined };
  readonly #pending = new Set<(error: Error) => void>();
  readonly #listeners = new Set<(reason: string) => void>();
  readonly #subscribers = new Map<string, number>();
  #queue: Promise<unknown> = Promise.resolve();
  #gone: string | undefined;

  constructor(
    p: Peripheral,
    services: { uuid: string }[],
    chars: Map<string, Characteristic>,
    opts: { callTimeoutMs: number; log: TrafficLog | undefined },
  ) {
    this.#p = p;
    this.#chars = chars;
    this.#opts = opts;
    const name = p.advertisement?.localName;
    this.peripheral = { id: p.id, address: p.address, ...(name ? { name } : {}) };
    this.#services = services.map((s) => ({
      uuid: s.uuid,
      characteristics: [...chars]
        .filter(([key]) => key.startsWith(`${s.uuid}/`))
        .map(([, c]) => ({ uuid: c.uuid, properties: [...c.properties] })),
    }));
    p.once('disconnect', (reason: number | string) => this.#lost(reason));
  }

  get mtu(): number {
    return this.#p.mtu ?? 23;
  }

  #lost(reason: number | string): void {
    if (this.#gone !== undefined) return;
    const hci = createRequire(import.meta.url)('@stoprocent/noble/lib/hci-status-message') as (
      r: unknown,
    ) => string;
    this.#gone = typeof reason === 'number' ? `${hci(reason)} (0x${reason.toString(16)})` : String(reason);
    this.#opts.log?.note('gatt', `disconnected: ${this.#gone}`);
    for (const reject of this.#pending) reject(this.#disconnected());
    for (const listener of this.#listeners) listener(this.#gone);
    this.#listeners.clear();
    for (const c of this.#chars.values()) c.removeAllListeners('data');
  }

  #disconnected(): TransportError {
    return new TransportError(
      'DISCONNECTED',
      `BLE peripheral ${this.peripheral.address || this.peripheral.id} disconnected: ${this.#gone}`,
    );
  }

  #char(service: string, characteristic: string): Characteristic {
    const c = this.#chars.get(`${service}/${characteristic}`);
    if (!c)
      throw new TransportError(
        'NOT_FOUND',
        `BLE characteristic ${service}/${characteristic} is not on ${this.peripheral.id}`,
      );
    return c;
  }

  /** Runs one GATT operation in the queue with its deadline, cancellation and disconnect. */
  #call<T>(what: string, opts: GattCallOptions | undefined, run: () => Promise<T>): Promise<T> {
    const ms = opts?.timeoutMs ?? this.#opts.callTimeoutMs;
    const result = this.#queue.then(
      () =>
        new Promise<T>((resolve, reject) => {
          if (this.#gone !== undefined) return reject(this.#disconnected());
          if (opts?.signal?.aborted) return reject(new TransportError('CANCELLED', `BLE ${what} cancelled`));
          const settle = (fn: () => void) => {
            clearTimeout(timer);
            this.#pending.delete(fail);
            opts?.signal?.removeEventListener('abort', onAbort);
            fn();
          };
          const fail = (error: Error) => settle(() => reject(error));
          const onAbort = () => fail(new TransportError('CANCELLED', `BLE ${what} cancelled`));
          const timer = setTimeout(
            () => fail(new TransportError('TIMEOUT', `BLE ${what}: no answer in ${ms} ms`)),
            ms,
          );
          this.#pending.add(fail);
          opts?.signal?.addEventListener('abort', onAbort, { once: true });
          run().then(
            (value) => settle(() => resolve(value)),
            (error: Error) => fail(this.#gone !== undefined ? this.#disconnected() : gattError(what, error)),
          );
        }),
    );
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async services(): Promise<GattServiceInfo[]> {
    if (this.#gone !== undefined) throw this.#disconnected();
    return this.#services.map((s) => ({
      uuid: s.uuid,
      characteristics: s.characteristics.map((c) => ({ ...c })),
    }));
  }

  async read(service: string, characteristic: string, opts?: GattCallOptions): Promise<Uint8Array> {
    const c = this.#char(service, characteristic);
    const data = await this.#call(`read ${characteristic}`, opts, () => c.readAsync());
    const bytes = new Uint8Array(data);
    this.#opts.log?.record('recv', 'gatt', bytes, `read ${characteristic}`);
    return bytes;
  }

  async write(
    service: string,
    characteristic: string,
    data: Uint8Array,
    opts?: GattCallOptions & { withoutResponse?: boolean },
  ): Promise<void> {
    const c = this.#char(service, characteristic);
    const withoutResponse = opts?.withoutResponse ?? false;
    this.#opts.log?.record(
      'send',
      'gatt',
      data,
      `${withoutResponse ? 'write-cmd' : 'write'} ${characteristic}`,
    );
    await this.#call(`write ${characteristic}`, opts, () => c.writeAsync(Buffer.from(data), withoutResponse));
  }

  async subscribe(
    service: string,
    characteristic: string,
    onValue: (data: Uint8Array) => void,
    opts?: GattCallOptions,
  ): Promise<() => Promise<void>> {
    const c = this.#char(service, characteristic);
    const key = `${service}/${characteristic}`;
    const onData = (data: Buffer, isNotification: boolean) => {
      if (!isNotification) return;
      const bytes = new Uint8Array(data);
      this.#opts.log?.record('recv', 'gatt', bytes, `notify ${characteristic}`);
      onValue(bytes);
    };
    c.on('data', onData);
    try {
      await this.#call(`subscribe ${characteristic}`, opts, () => c.subscribeAsync());
    } catch (error) {
      c.removeListener('data', onData);
      throw error;
    }
    this.#subscribers.set(key, (this.#subscribers.get(key) ?? 0) + 1);
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      c.removeListener('data', onData);
      const left = (this.#subscribers.get(key) ?? 1) - 1;
      this.#subscribers.set(key, left);
      // The CCCD is shared: only the last subscriber turns notifications off.
      if (left === 0 && this.#gone === undefined) {
        await this.#call(`unsubscribe ${characteristic}`, undefined, () => c.unsubscribeAsync());
      }
    };
  }

  onDisconnect(listener: (reason: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Disconnects; onDisconnect listeners are not called for a close the host asked for. */
  async close(): Promise<void> {
    if (this.#gone !== undefined) return;
    this.#listeners.clear();
    const gone = new Promise<void>((resolve) => this.#p.once('disconnect', () => resolve()));
    this.#p.disconnect();
    await bleDeadline('disconnect', gone, this.#opts.callTimeoutMs).catch(() =>
      this.#lost('closed (no answer)'),
    );
  }
}
