/**
 * Prints the nightly hardware-in-the-loop matrix (JSON) for the lab inventory, and on
 * GitHub Actions also writes it as the step output `matrix` (.github/workflows/nightly-hil.yml).
 *
 *   npx tsx scripts/hil-matrix.ts [fixtures/lab/inventory.yaml]
 */
import { appendFileSync } from 'node:fs';
import { hilMatrix } from '../rig/lab/hil-matrix.ts';

const root = new URL('..', import.meta.url).pathname;
const inventory = process.argv[2] ?? `${root}fixtures/lab/inventory.yaml`;
try {
  const json = JSON.stringify(hilMatrix(inventory, root));
  process.stdout.write(`${json}\n`);
  if (process.env.GITHUB_OUTPUT) appendFileSync(process.env.GITHUB_OUTPUT, `matrix=${json}\n`);
} catch (error) {
  process.stderr.write(`hil-matrix: ${(error as Error).message}\n`);
  process.exitCode = 2;
}
