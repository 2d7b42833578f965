import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/**
 * The rig's layers, lowest first: a module may import from its own layer and from the
 * layers below it, never from one above (nor from a sibling on the same rung). Each rung
 * only knows what lies beneath it, so the order reads as "what is built on what":
 *
 *  0 base (rig/*.ts)  bytes, errors, random choices, the traffic log, YAML files, device text.
 *                     Knows nothing of FIDO.
 *  1 transport        how bytes reach a device, host side: CTAPHID, ISO 7816-4 APDUs and the
 *                     contactless link, FIDO over GATT.
 *  2 u2f              U2F messages, signatures and attestation, U2fClient over any transport
 *                     (its presence is an interface the station implements).
 *  3 emulator,        siblings: the emulated chip (the transports' device side around a U2F
 *    instruments      core) and the lab instruments (drivers, simulators). Neither knows the
 *                     other; the station wires a simulator to the chip.
 *  4 tape             records and replays the transports' traffic.
 *  5 requirements     the requirements catalogue (fixtures/requirements.yaml) and the judge of
 *                     disputed points. Below station: loading a device profile checks its
 *                     narrowed disputed points against the catalogue.
 *  6 station          one run's device, links, instruments, presence and profile: the one
 *                     place real or emulated is chosen.
 *  7 measure          measurements with limits, histograms, the run's measurement file.
 *  8 report           Allure, console, HTML, conformance matrix, test plan.
 *  9 scenario         scenario files and their runner.
 * 10 lab              HIL matrix across stations and devices.
 * 10 fuzz             fuzz campaigns: generators per layer, drivers below the transports,
 *                     oracles (probe, canary, protocol rules), minimizer, finding files.
 * 11 run              the run engine: one run's context, the mocha driver, the result files.
 *                     It loads the suites' spec files by path, never imports them; the spec
 *                     files reach their run (activeRun) from above.
 * 12 suites           the conformance suites (suites/), and their support.
 * 12 results          the results database: schema, migrations, queries, the run's writer
 *                     (a run engine listener). Sibling of the suites: neither knows the other.
 * 13 serve            chiprig serve: the web server, the runs it starts and follows, the
 *                     run's side of its link (a run engine listener).
 * 14 cli              the chiprig command: flags, console output, the HTML report.
 *
 * Tests (*.test.ts) may import anything; so may the property tests' support (rig/property).
 */
const LAYERS: Record<string, number> = {
  base: 0,
  transport: 1,
  u2f: 2,
  emulator: 3,
  instruments: 3,
  metadata: 3,
  tape: 4,
  requirements: 5,
  station: 6,
  measure: 7,
  report: 8,
  scenario: 9,
  lab: 10,
  fuzz: 10,
  run: 11,
  suites: 12,
  results: 12,
  serve: 13,
  cli: 14,
  property: 15,
};

const ROOT = resolve(new URL('..', import.meta.url).pathname);

/** rig/X.ts is base, rig/<dir>/... is <dir>, suites/... is suites. */
function layerOf(file: string): string {
  const parts = relative(ROOT, file).split(sep);
  if (parts[0] === 'suites') return 'suites';
  return parts.length === 2 ? 'base' : parts[1]!;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** The relative imports of a file (static, type-only, re-export or dynamic) that point up or sideways. */
function violationsIn(file: string, text = readFileSync(file, 'utf8')): string[] {
  const out: string[] = [];
  const a = layerOf(file);
  for (const { fileName } of ts.preProcessFile(text, true, true).importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const target = resolve(dirname(file), fileName);
    const b = layerOf(target);
    if (a === b) continue;
    const where = `${relative(ROOT, file)} → ${relative(ROOT, target)}`;
    const [ra, rb] = [LAYERS[a], LAYERS[b]];
    if (ra === undefined || rb === undefined) {
      out.push(`${where}: layer "${ra === undefined ? a : b}" is not in the table (rig/layers.test.ts)`);
    } else if (rb >= ra) {
      out.push(`${where} (${a} → ${b})`);
    }
  }
  return out;
}

describe('layers: imports point down', () => {
  const files = [...sources(join(ROOT, 'rig')), ...sources(join(ROOT, 'suites'))];

  it('every non-test module under rig/ and suites/ imports only from its own layer or lower ones', () => {
    // A file list or parser that saw nothing would pass vacuously.
    const imports = files.flatMap(
      (f) => ts.preProcessFile(readFileSync(f, 'utf8'), true, true).importedFiles,
    ).length;
    assert.ok(files.length > 150 && imports > 500, `${files.length} files, ${imports} imports`);
    const violations = files.flatMap((f) => violationsIn(f));
    assert.deepEqual(violations, [], `imports against the layering:\n  ${violations.join('\n  ')}`);
  });

  it('catches type-only imports, re-exports and dynamic imports, naming both ends and both layers', () => {
    const probe = join(ROOT, 'rig', 'transport', 'probe.ts');
    const text = [
      "import type { Station } from '../station/station.ts';",
      "export { getStation } from '../../suites/support/context.ts';",
      "const m = await import('../report/console.ts');",
      "import { UUID } from './ble/gatt-uuids.ts';",
      "import { hex } from '../bytes.ts';",
      "import { INS } from '../u2f/apdu.ts';",
      "import { settle } from '../instruments/chamber.ts';",
      "import { thing } from '../newlayer/thing.ts';",
    ].join('\n');
    assert.deepEqual(violationsIn(probe, text), [
      'rig/transport/probe.ts → rig/station/station.ts (transport → station)',
      'rig/transport/probe.ts → suites/support/context.ts (transport → suites)',
      'rig/transport/probe.ts → rig/report/console.ts (transport → report)',
      'rig/transport/probe.ts → rig/u2f/apdu.ts (transport → u2f)',
      'rig/transport/probe.ts → rig/instruments/chamber.ts (transport → instruments)',
      'rig/transport/probe.ts → rig/newlayer/thing.ts: layer "newlayer" is not in the table (rig/layers.test.ts)',
    ]);
    // Siblings do not import each other.
    assert.deepEqual(
      violationsIn(join(ROOT, 'rig', 'emulator', 'probe.ts'), "import '../instruments/roles.ts';"),
      ['rig/emulator/probe.ts → rig/instruments/roles.ts (emulator → instruments)'],
    );
  });
});
