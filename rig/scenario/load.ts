import { basename } from 'node:path';
import { ConfigError } from '../errors.ts';
import { loadYamlFile } from '../yaml-file.ts';
import { ACTIONS, type Action, type Scenario, ScenarioSchema, type Step } from './schema.ts';

/** A step with where it stands: its number in the scenario ("3", "4.2" inside a repeat) and line. */
export interface LoadedStep {
  step: Step;
  action: Action;
  label: string;
  line: number;
  children?: LoadedStep[];
}

export interface LoadedScenario {
  file: string;
  scenario: Scenario;
  steps: LoadedStep[];
}

/** Which transport each transport-bound action needs. */
const ONLY_ON: Partial<Record<Action, 'hid' | 'nfc' | 'ble'>> = {
  ctaphid: 'hid',
  'hid-report': 'hid',
  'ble-frame': 'ble',
  'raw-apdu': 'nfc',
  tap: 'nfc',
  ble: 'ble',
  scan: 'ble',
  'pairing-mode': 'ble',
};

/** What each action can capture. */
const CAPTURES: Partial<Record<Action, readonly string[]>> = {
  version: ['data', 'sw'],
  register: ['keyHandle', 'publicKey', 'certificate', 'signature', 'data', 'sw'],
  authenticate: ['counter', 'flags', 'signature', 'data', 'sw'],
  apdu: ['data', 'sw'],
  'raw-apdu': ['data', 'sw'],
  ctaphid: ['data'],
  ble: ['data'],
  'hid-report': ['data'],
  'ble-frame': ['data'],
};

/** What each action's answer can be checked for. */
const EXPECTS: Partial<Record<Action, readonly string[]>> = {
  version: ['sw', 'data', 'maxMs'],
  register: ['sw', 'data', 'maxMs'],
  authenticate: ['sw', 'data', 'maxMs', 'flags', 'counter'],
  apdu: ['sw', 'data', 'maxMs'],
  'raw-apdu': ['sw', 'data', 'maxMs'],
  ctaphid: ['data', 'maxMs', 'error'],
  ble: ['data', 'maxMs', 'error'],
  'hid-report': ['data', 'maxMs', 'none'],
  'ble-frame': ['data', 'maxMs', 'none'],
  scan: ['found', 'pairingMode'],
};

/**
 * Reads a scenario file: the schema first (line-numbered errors), then what the schema
 * cannot say: actions that need another transport, captures and expectations an action
 * does not have, variables used before a step captures them, malformed hex.
 */
export function loadScenario(file: string): LoadedScenario {
  const { data, lineOf } = loadYamlFile(file, ScenarioSchema, 'scenario');
  const fail = (line: number | undefined, label: string, what: string): never => {
    throw new ConfigError(`scenario ${file}${line ? `:${line}` : ''}: step ${label}: ${what}`);
  };
  // ${cid}: the channel the rig's HID transport holds (for raw reports).
  const defined = new Set<string>(data.transport === 'hid' ? ['cid'] : []);
  const walk = (steps: Step[], path: (string | number)[], prefix: string): LoadedStep[] =>
    steps.map((step, i) => {
      const at = [...path, i];
      const label = `${prefix}${i + 1}`;
      const line = lineOf(at) ?? 0;
      const action = ACTIONS.find((a) => a in step)!;
      const need = ONLY_ON[action];
      if (need && need !== data.transport) {
        fail(
          lineOf([...at, action]),
          label,
          `"${action}" needs transport ${need}; this scenario's is ${data.transport}`,
        );
      }
      for (const field of Object.keys(step.expect ?? {})) {
        if (!EXPECTS[action]?.includes(field)) {
          fail(lineOf([...at, 'expect', field]), label, `"${action}" has no "${field}" to expect`);
        }
      }
      for (const [name, field] of Object.entries(step.capture ?? {})) {
        if (!CAPTURES[action]?.includes(field)) {
          fail(lineOf([...at, 'capture', name]), label, `"${action}" has no "${field}" to capture`);
        }
      }
      if (step.presence && action !== 'register' && action !== 'authenticate') {
        fail(lineOf([...at, 'presence']), label, '"presence" is for register and authenticate');
      }
      // Variables: each ${name} must be captured by an earlier step (or be a repeat's ${i}).
      // (A repeat's own steps are checked as they are walked, with ${i} known.)
      const own = action === 'repeat' ? { count: step.repeat?.count } : step[action];
      const uses = JSON.stringify({ [action]: own, expect: step.expect }).matchAll(/\$\{([^}]*)\}/g);
      for (const [, name] of uses) {
        if (!defined.has(name!)) {
          fail(
            line,
            label,
            `\${${name}} is not captured by an earlier step${defined.size ? ` (known: ${[...defined].join(', ')})` : ''}`,
          );
        }
      }
      checkHex(step, action, (what) => fail(lineOf([...at, action]), label, what));
      const loaded: LoadedStep = { step, action, label, line };
      if (step.repeat) {
        const hadI = defined.has('i');
        defined.add('i');
        loaded.children = walk(step.repeat.steps, [...at, 'repeat', 'steps'], `${label}.`);
        if (!hadI) defined.delete('i');
      }
      for (const name of Object.keys(step.capture ?? {})) defined.add(name);
      return loaded;
    });
  return { file, scenario: data, steps: walk(data.steps, ['steps'], '') };
}

/** The hex parts of a step's byte values (what is left around ${...} and without a prefix). */
function checkHex(step: Step, action: Action, fail: (what: string) => never): void {
  const values: (string | undefined)[] = [];
  if (action === 'apdu') values.push(step.apdu);
  if (action === 'raw-apdu') values.push(step['raw-apdu']);
  if (action === 'register') values.push(step.register?.app, step.register?.challenge);
  if (action === 'authenticate') {
    values.push(step.authenticate?.app, step.authenticate?.challenge, step.authenticate?.keyHandle);
  }
  if (action === 'ctaphid') values.push(step.ctaphid?.data);
  if (action === 'ble') values.push(step.ble?.data);
  if (action === 'hid-report') values.push(step['hid-report']?.report);
  if (action === 'ble-frame') values.push(step['ble-frame']?.frame);
  values.push(step.expect?.data?.exact);
  for (const v of values) {
    if (v === undefined || /^(sha256|text):/.test(v) || /^random(:\d+)?$/.test(v)) continue;
    const bare = v.replace(/\$\{[^}]*\}/g, '').replace(/[\s:]/g, '');
    if (!/^[0-9a-fA-F]*$/.test(bare) || (v === bare && bare.length % 2 === 1)) {
      fail(`"${v}" is not bytes (hex, sha256:TEXT, text:TEXT, random[:N]; \${name} for a variable)`);
    }
  }
}

/** Every file a --scenario argument names: files, or the .yaml files of a folder. */
export function scenarioTitle(s: LoadedScenario): string {
  return `${s.scenario.scenario} (${basename(s.file)})`;
}
