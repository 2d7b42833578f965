import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { packagePath } from '../paths.ts';
import { type LoadedScenario, loadScenario } from './load.ts';

/** The worked examples that ship with chiprig (README, "Scenario files"). */
export const EXAMPLES_DIR = packagePath('scenarios/');

let active: LoadedScenario[] | undefined;

/** `chiprig run --scenario` hands over what it loaded (and checked) before the station opened. */
export function useScenarios(scenarios: LoadedScenario[]): void {
  active = scenarios;
}

/**
 * The scenarios the scenario spec runs: those chiprig run loaded, else (plain mocha, npm
 * test) CHIPRIG_SCENARIOS (comma-separated files or folders), else the shipped examples.
 */
export function activeScenarios(env: NodeJS.ProcessEnv = process.env): LoadedScenario[] {
  active ??= loadScenarios(env.CHIPRIG_SCENARIOS ? env.CHIPRIG_SCENARIOS.split(',') : [EXAMPLES_DIR]);
  return active;
}

/** Loads every scenario the arguments name (files, or the .yaml files of a folder), checking IDs are unique. */
export function loadScenarios(args: readonly string[]): LoadedScenario[] {
  const files = args.flatMap((arg) => {
    const path = resolve(arg);
    if (!existsSync(path)) throw new ConfigError(`--scenario: ${arg} does not exist`);
    if (!statSync(path).isDirectory()) return [path];
    const inside = readdirSync(path)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort()
      .map((f) => join(path, f));
    if (inside.length === 0) throw new ConfigError(`--scenario: the folder ${arg} holds no .yaml files`);
    return inside;
  });
  const loaded = files.map(loadScenario);
  const seen = new Map<string, string>();
  for (const s of loaded) {
    const other = seen.get(s.scenario.id);
    if (other) throw new ConfigError(`scenario ${s.file}: ID ${s.scenario.id} is also the ID of ${other}`);
    seen.set(s.scenario.id, s.file);
  }
  return loaded;
}
