import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { packagePath } from '../paths.ts';
import { type LoadedScenario, loadScenario } from './load.ts';

/** The worked examples that ship with chiprig (README, "Scenario files"). */
export const EXAMPLES_DIR = packagePath('scenarios/');

/** CHIPRIG_SCENARIOS (comma-separated files or folders), what plain mocha runs; undefined when unset. */
export function activeScenarioFiles(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  return env.CHIPRIG_SCENARIOS ? env.CHIPRIG_SCENARIOS.split(',') : undefined;
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
