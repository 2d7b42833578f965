// Writes schemas/scenario.schema.json from the scenario schema (rig/scenario/schema.ts), the
// JSON Schema editors use for scenario files (# yaml-language-server: $schema=...).
// npm test checks that the file is up to date: run `npm run schema` after changing the schema.
import { writeFileSync } from 'node:fs';
import { scenarioJsonSchema } from '../rig/scenario/schema.ts';

const path = new URL('../schemas/scenario.schema.json', import.meta.url).pathname;
writeFileSync(path, `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${path}\n`);
