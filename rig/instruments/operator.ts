/**
 * Operator prompts, where a real station lacks an instrument: "tap the card", "set the
 * chamber to -10 C", "unplug the key and plug it back in". Each waits for Enter with a
 * timeout. With no terminal (CI, a scheduled job) nobody can answer, so the ask fails with
 * OperatorUnavailable at once, and the suites skip that test with the reason.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { InstrumentError } from '../errors.ts';
import type { ClimateChamber, PowerSwitch } from './roles.ts';

/** Nobody is there to answer: the caller skips (not a device or rig failure). */
export class OperatorUnavailable extends InstrumentError {
  constructor(what: string) {
    super(
      'NO_OPERATOR',
      `no operator: "${what}" needs a person at a terminal or at a chiprig serve page (stdin is not a TTY${process.env.CI ? ', CI is set' : ''}, no page is open); give the station an instrument for it instead`,
    );
  }
}

/**
 * An operator somewhere else than this terminal: chiprig serve's page, for a run it started.
 * A prompt goes to both; whichever answers first counts, under the same timeout.
 */
export interface RemoteOperator {
  /** Whether someone can answer there now (a page is open). */
  readonly available: boolean;
  /**
   * Shows a prompt there. `kind` presence: "touch the key" (answering it presses an emulated
   * chip's button); operator: a step to do and confirm. `close` withdraws it, saying why.
   */
  prompt(
    text: string,
    timeoutMs: number,
    kind: 'operator' | 'presence',
  ): { answer: Promise<string>; close(why: 'answered' | 'timeout' | 'done'): void };
}

let remote: RemoteOperator | undefined;

/** Sets (undefined: clears) the remote operator every prompt also goes to. */
export function setRemoteOperator(r: RemoteOperator | undefined): void {
  remote = r;
}

export function remoteOperator(): RemoteOperator | undefined {
  return remote?.available ? remote : undefined;
}

export interface OperatorOptions {
  input?: Readable & { isTTY?: boolean };
  output?: Writable;
  /** Whether a person can answer; default: stdin is a TTY and CI is not set. */
  interactive?: boolean;
}

export class Operator {
  readonly #input: Readable & { isTTY?: boolean };
  readonly #output: Writable;
  /** A person at this terminal can answer. */
  readonly #terminal: boolean;

  constructor(opts: OperatorOptions = {}) {
    this.#input = opts.input ?? process.stdin;
    this.#output = opts.output ?? process.stderr;
    this.#terminal = opts.interactive ?? (Boolean(this.#input.isTTY) && !process.env.CI);
  }

  /** Whether anyone can answer: a person at this terminal, or a remote operator's page. */
  get interactive(): boolean {
    return this.#terminal || remoteOperator() !== undefined;
  }

  /**
   * Shows `text` and waits for Enter, at most `timeoutMs`, at this terminal and at the remote
   * operator's page (whichever answers first). Resolves with what was typed.
   */
  ask(text: string, timeoutMs: number): Promise<string> {
    if (!this.interactive) return Promise.reject(new OperatorUnavailable(text));
    const rl = this.#terminal
      ? createInterface({ input: this.#input, output: this.#output, terminal: false })
      : undefined;
    const far = remoteOperator()?.prompt(text, timeoutMs, 'operator');
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        rl?.close();
        far?.close('timeout');
        reject(
          new InstrumentError(
            'TIMEOUT',
            `no answer from the operator within ${Math.round(timeoutMs / 1000)} s to "${text}"`,
          ),
        );
      }, timeoutMs);
      if (rl) this.#output.write(`>>> ${text} (press Enter; ${Math.round(timeoutMs / 1000)} s) <<<\n`);
      rl?.once('line', (line) => {
        clearTimeout(timer);
        rl.close();
        far?.close('answered');
        resolve(line.trim());
      });
      far?.answer.then((typed) => {
        clearTimeout(timer);
        rl?.close();
        resolve(typed.trim());
      });
    });
  }
}

/** A chamber run by hand: the operator sets it and confirms; readings are what they confirmed. */
export class ManualChamber implements ClimateChamber {
  readonly name = 'manual chamber (operator)';
  readonly #operator: Operator;
  readonly #timeoutMs: number;
  #setPoint: number;

  constructor(operator: Operator, opts: { timeoutMs?: number; startC?: number } = {}) {
    this.#operator = operator;
    this.#timeoutMs = opts.timeoutMs ?? 30 * 60_000;
    this.#setPoint = opts.startC ?? 25;
  }

  async setSetPoint(celsius: number): Promise<void> {
    if (!Number.isFinite(celsius)) throw new RangeError(`set point: not a number: ${celsius}`);
    const typed = await this.#operator.ask(
      `Set the chamber to ${celsius} C, wait until it reads it, then press Enter (or type the reading)`,
      this.#timeoutMs,
    );
    const reading = typed === '' ? celsius : Number(typed);
    if (!Number.isFinite(reading)) throw new InstrumentError('BAD_INPUT', `not a temperature: "${typed}"`);
    this.#setPoint = reading;
  }

  async readSetPoint(): Promise<number> {
    return this.#setPoint;
  }

  /** What the operator last confirmed (a manual station has no live reading). */
  async readTemperature(): Promise<number> {
    return this.#setPoint;
  }

  async close(): Promise<void> {}
}

/** Power cut and restored by hand: "unplug the key", "plug it back in". */
export class ManualPowerSwitch implements PowerSwitch {
  readonly name = 'manual power (operator)';
  readonly #operator: Operator;
  readonly #timeoutMs: number;

  constructor(operator: Operator, opts: { timeoutMs?: number } = {}) {
    this.#operator = operator;
    this.#timeoutMs = opts.timeoutMs ?? 120_000;
  }

  async setPower(on: boolean): Promise<void> {
    await this.#operator.ask(on ? 'Plug the key back in' : 'Unplug the key (cut its power)', this.#timeoutMs);
  }

  async close(): Promise<void> {}
}
