import { TransportError } from '../errors.ts';

/**
 * Why the device cannot be tested over a transport: gone (silent, even after what the
 * station can do to revive it), stuck (busy beyond its timeouts), or unusable (it answers
 * its INIT wrongly). `since` is the case after which it happened (undefined: at the start);
 * the cases in `judgedBy` still run, to judge the requirement it breaks.
 */
export interface DeviceTrouble {
  state: 'gone' | 'stuck' | 'unusable';
  since: string | undefined;
  why: string;
  judgedBy?: readonly string[];
}

/** What a case that cannot run because of `trouble` is broken with. */
export function troubleError(trouble: DeviceTrouble): TransportError {
  const since = trouble.since ? `since ${trouble.since}` : 'since the start of the run';
  const what =
    trouble.state === 'unusable'
      ? `device unusable ${since}: no CTAPHID channel`
      : `device ${trouble.state} ${since}`;
  const judged = trouble.judgedBy?.length ? ` (${trouble.judgedBy.join(', ')} judges it)` : '';
  return new TransportError('UNAVAILABLE', `${what}: ${trouble.why}${judged}`);
}
