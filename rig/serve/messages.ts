/**
 * What a run started by chiprig serve and serve say to each other over the run's IPC channel,
 * and what serve pushes to its pages (server-sent events carry the same shapes).
 */
import type { RecordedMeasurement } from '../measure/run-record.ts';
import type { Outcome, TestRecord } from '../report/console.ts';

/** Instrument readings at one moment; each part only where the station has the instrument. */
export interface Reading {
  /** Epoch milliseconds. */
  at: number;
  chamber?: { temperature: number; setPoint: number };
  meter?: { currentUa: number };
  power?: { on: boolean };
  /** An instrument that could not be read, and why. */
  error?: string;
}

/** From the run to serve. */
export type ChildMessage =
  | {
      t: 'start';
      station: string;
      device: string;
      identity: Record<string, string>;
      suites: string[];
      presence: string;
    }
  | { t: 'note'; text: string }
  | { t: 'test'; record: TestRecord; index: number; total: number }
  | { t: 'measurement'; measurement: RecordedMeasurement }
  | { t: 'traffic'; lines: string[]; dropped: number }
  | { t: 'latency'; points: { at: number; ms: number; layer: string }[] }
  | { t: 'reading'; reading: Reading }
  | { t: 'prompt'; id: number; kind: 'operator' | 'presence'; text: string; timeoutMs: number }
  | { t: 'prompt-closed'; id: number; why: 'answered' | 'timeout' | 'done' }
  | { t: 'end'; counts: Record<Outcome, number>; durationMs: number };

/** From serve to the run. */
export type ParentMessage =
  | { t: 'operator'; available: boolean }
  | { t: 'answer'; id: number; text: string }
  | { t: 'stop' };
