import { ConfigError, TransportError } from '../errors.ts';
import { type RemoteOperator, remoteOperator } from '../instruments/operator.ts';
import type { TouchActuator } from '../instruments/touch-actuator.ts';
import type { TrafficLog } from '../traffic.ts';
import type { PresenceMode, UserPresence } from '../u2f/presence.ts';

export interface PresenceOptions {
  mode: PresenceMode;
  actuator?: TouchActuator;
  /** How long to wait for presence once the device asked for it. */
  timeoutMs: number;
  /** How often to re-send a request that answered 6985. */
  pollMs: number;
  holdMs?: number;
  /** Where operator prompts go (stderr by default). */
  prompt?: (text: string) => void;
  /** The station's traffic log: each request for presence shows in the test's traffic. */
  log?: TrafficLog;
}

const PRESENCE_NOTE: Record<PresenceMode, string> = {
  actuator: 'actuator presses',
  prompt: 'operator asked to press',
  auto: 'waiting for the device',
};

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * How the rig gets a button press when the device answers "presence required" (6985):
 * - actuator: the station's TouchActuator presses the button;
 * - prompt: the operator is asked to press it;
 * - auto: the device approves by itself (test firmware, a robot the rig does not drive).
 * In every mode the rig then re-sends the request until the device answers otherwise or
 * the timeout passes. Actuation time is counted apart from device time.
 */
export class PresenceController implements UserPresence {
  readonly mode: PresenceMode;
  readonly timeoutMs: number;
  readonly pollMs: number;
  readonly #actuator: TouchActuator | undefined;
  readonly #holdMs: number;
  readonly #prompt: (text: string) => void;
  readonly #log: TrafficLog | undefined;
  presses = 0;
  actuationMs = 0;
  /** The presence prompt shown in chiprig serve's page, while it stands. */
  #remote: ReturnType<RemoteOperator['prompt']> | undefined;

  constructor(opts: PresenceOptions) {
    if (opts.mode === 'actuator' && !opts.actuator) {
      throw new ConfigError(
        'presence: mode "actuator" needs a touch actuator on the station (instruments.touch); use --presence prompt to ask an operator',
      );
    }
    this.mode = opts.mode;
    this.timeoutMs = opts.timeoutMs;
    this.pollMs = opts.pollMs;
    this.#actuator = opts.actuator;
    this.#holdMs = opts.holdMs ?? 100;
    this.#prompt = opts.prompt ?? ((text) => process.stderr.write(`${text}\n`));
    this.#log = opts.log;
  }

  /**
   * Starts giving presence for `what` (e.g. "REGISTER"). A plain promise chain rather than
   * an async function (it runs before every signature); failures still reject.
   */
  request(what: string): Promise<void> {
    try {
      if (this.#log?.enabled) this.#log.note('presence', `${what}: ${PRESENCE_NOTE[this.mode]}`);
      if (this.mode === 'actuator') {
        const started = performance.now();
        return this.#actuator!.press(this.#holdMs).then(() => {
          this.actuationMs += performance.now() - started;
          this.presses++;
        });
      }
      if (this.mode === 'prompt') {
        const text = `Touch the key's button now (${what} is waiting, up to ${Math.round(this.timeoutMs / 1000)} s)`;
        this.#prompt(`>>> ${text} <<<`);
        // Also in chiprig serve's page, for the same time; the device's answer is what counts.
        this.#remote?.close('done');
        this.#remote = remoteOperator()?.prompt(text, this.timeoutMs, 'presence');
        this.#remote?.answer.catch(() => undefined);
      }
      return RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  timeoutError(what: string): TransportError {
    const why =
      this.mode === 'actuator'
        ? `the ${this.#actuator!.name} pressed, but the device kept answering 6985: check the actuator's position`
        : this.mode === 'prompt'
          ? 'nobody touched the button in time'
          : 'the device did not approve by itself (presence mode auto)';
    return new TransportError('TIMEOUT', `no user presence within ${this.timeoutMs} ms for ${what}: ${why}`);
  }
}
