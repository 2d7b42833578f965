/**
 * What a scenario action works with: the run its steps share (the station and test it runs
 * in, the client, the values captured so far, the credentials it registered), what one step
 * saw, and the shape of an action's handler (actions/).
 */
import type { Station } from '../station/station.ts';
import type { U2fClient } from '../u2f/u2f-client.ts';
import type { LoadedScenario } from './load.ts';
import type { Step } from './schema.ts';

/** What a scenario needs of the test it runs in (suites/support/conformance.ts CaseContext). */
export interface ScenarioContext {
  station: Station;
  skip(reason: string): never;
  observe(what: string): void;
}

export type Value = Uint8Array | number;

export interface Run {
  station: Station;
  ctx: ScenarioContext;
  loaded: LoadedScenario;
  u2f: U2fClient;
  vars: Map<string, Value>;
  /** Credentials registered in this scenario, by key handle (hex): their key and app. */
  credentials: Map<string, { publicKey: Uint8Array; appParam: Uint8Array }>;
}

/** What one step saw, for its expectations and captures. */
export interface Answer {
  sw?: number;
  data?: Uint8Array;
  fields?: Partial<Record<'keyHandle' | 'publicKey' | 'certificate' | 'signature', Uint8Array>> & {
    counter?: number;
    flags?: number;
  };
  error?: number;
  /** A raw report or frame got no answer. */
  none?: boolean;
  found?: boolean;
  pairingMode?: boolean;
  ms?: number;
}

/**
 * One action: `run` does the step (`where` names it in messages) and returns what it saw;
 * `describe` is the step's text in the report, given its name part (` "name"` or empty);
 * without it the text is the action and the name.
 */
export interface ActionHandler {
  run(run: Run, step: Step, where: string): Promise<Answer>;
  describe?(step: Step, name: string): string;
}

/** The answer with how long `send` took. */
export async function timed(send: () => Promise<Answer>): Promise<Answer> {
  const started = performance.now();
  const answer = await send();
  return { ...answer, ms: performance.now() - started };
}

export function apduAnswer(r: { sw: number; data: Uint8Array }): Answer {
  return { sw: r.sw, data: r.data };
}

/** A value's text in the report, cut at 40 characters. */
export function short(v: string | undefined): string {
  return v === undefined ? '' : v.length > 40 ? `${v.slice(0, 36)}…` : v;
}
