#!/usr/bin/env node
// Entry point of the `chiprig` command. Which code it runs:
// - a development checkout (rig/cli/main.ts is here): the TypeScript sources, through tsx.
//   Always, even where a dist/ exists (left by `npm run build` or `npm pack`), so an edited
//   source is never shadowed by stale built output, and `npm ci && npx chiprig run` needs
//   no build step.
// - the installed package: its "files" ship no rig/**/*.ts, only the JavaScript that
//   `npm run build` (run by `npm pack`'s prepack) compiled into dist/. That runs directly,
//   with no tsx, which is a devDependency and not installed with the package.
import { existsSync } from 'node:fs';

const sources = new URL('../rig/cli/main.ts', import.meta.url);
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else {
  await import(new URL('../dist/rig/cli/main.js', import.meta.url).href);
}
