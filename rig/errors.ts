/**
 * One error hierarchy (architecture.md, style 2). Outcomes are fixed by type:
 * an AssertionError (including StatusWordError and deviceFault()) is a device failure
 * ("failed"); a ChiprigError is a rig, link or instrument fault ("broken"), and a
 * ConfigError, raised before any test runs, becomes exit code 2.
 */

export class ChiprigError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export type TransportErrorCode =
  | 'TIMEOUT'
  | 'DISCONNECTED'
  | 'FRAMING'
  | 'CANCELLED'
  | 'NOT_FOUND'
  | 'UNAVAILABLE';

/** A link fault: the device did not answer in time, went away, or sent bytes the framing rejects. */
export class TransportError extends ChiprigError {
  declare readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A CTAPHID ERROR (0xBF) frame. Unknown codes are kept as they arrived. */
export class CtapHidError extends ChiprigError {
  readonly errorCode: number;
  constructor(errorCode: number, message?: string) {
    super(
      'CTAPHID_ERROR',
      message ?? `device answered CTAPHID ERROR 0x${errorCode.toString(16).padStart(2, '0')}`,
    );
    this.errorCode = errorCode;
  }
}

export class InstrumentError extends ChiprigError {}

/**
 * A replayed device (`--device replay:FILE`) was asked for something its recording does not
 * hold at that point: a rig fault ("broken"). The replay refused the call, so no byte went
 * anywhere and the link is as it was: transports must not start a recovery (an INIT, a
 * SELECT) the recording never had.
 */
export class ReplayDivergedError extends ChiprigError {
  constructor(message: string) {
    super('REPLAY_DIVERGED', message);
  }
}

/** A bad flag, station file, device profile or device spec. The message names the field. */
export class ConfigError extends ChiprigError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG', message, options);
  }
}

/**
 * A device response that breaks a requirement. It is an AssertionError on purpose: the
 * reporters (and Allure) grade assertion errors as "failed", everything else as "broken".
 * Parsers of device output throw this, so a malformed answer is a device failure.
 */
export { AssertionError } from 'node:assert';

import { AssertionError } from 'node:assert';

/**
 * A well-formed request answered with a status word other than the one it required: a
 * device failure, so an AssertionError, carrying the SW and every byte of the answer.
 */
export class StatusWordError extends AssertionError {
  readonly sw: number;
  readonly response: Uint8Array;
  constructor(sw: number, response: Uint8Array, message: string, expected: number) {
    super({
      message,
      actual: sw.toString(16).padStart(4, '0'),
      expected: expected.toString(16).padStart(4, '0'),
      operator: 'sw',
    });
    this.sw = sw;
    this.response = response;
  }
}

export function deviceFault(
  message: string,
  details?: { actual?: unknown; expected?: unknown },
): AssertionError {
  return new AssertionError({
    message,
    actual: details?.actual,
    expected: details?.expected,
    operator: 'conforms',
  });
}

/** True when an error is a device failure (as opposed to a rig or link fault). */
export function isDeviceFailure(error: unknown): boolean {
  return (
    error instanceof AssertionError || (error as { code?: string } | undefined)?.code === 'ERR_ASSERTION'
  );
}

/**
 * A link fault, recognised by name as well as by class: a module loaded twice (CommonJS
 * and ESM copies under a test runner) has two TransportError classes.
 */
export function isTransportError(error: unknown): error is TransportError {
  return (
    error instanceof TransportError ||
    ((error as Error | undefined)?.name === 'TransportError' &&
      typeof (error as TransportError).code === 'string')
  );
}
