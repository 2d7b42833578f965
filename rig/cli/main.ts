import { Command, CommanderError, Option } from 'commander';
import { ChiprigError, ConfigError } from '../errors.ts';
import { chiprigVersion } from '../run/environment.ts';
import { SUITES } from '../run/suites.ts';
import { EXIT } from './exit-codes.ts';
import { exitEarly } from './exit-hook.ts';

/** How long the process may linger after its command returned before it exits anyway. */
const LINGER_MS = 3000;

// Each command's module (with mocha, Allure, the transports and the emulator behind it) is
// imported when that command runs, so `chiprig --version` and `--help` load none of them.
// These are ESM imports of the same files the suites import later, done before mocha loads
// any spec, so there is one copy of each module (rig/errors.ts among them) and the
// `instanceof` checks below and in the rig hold (see the note in rig/station/links.ts,
// which is about mocha's CommonJS loading under `mocha --import tsx`, not this).

const program = new Command('chiprig')
  .description('Hardware-in-the-loop conformance rig for FIDO U2F authenticators (MitID chip)')
  .version(chiprigVersion())
  .exitOverride()
  // A subcommand's options are its own (needed by "bundle verify --key", whose parent has
  // --key too); chiprig's own (--version, --help) come before the command.
  .enablePositionalOptions()
  .showHelpAfterError('(run "chiprig --help" for usage)');

program
  .command('run')
  .description('run conformance suites against a device and write an Allure report')
  .option('--station <file>', 'station file (default: the built-in emulated station)')
  .option(
    '--device <spec>',
    'device under test: emulator | hid:VID:PID[:SERIAL] | hid:PATH | pcsc:READER | ble:NAME | fifo:PATH | replay:FILE',
  )
  .option('--hci <uart:PATH[@BAUD]>', 'Bluetooth controller for ble: devices (default: the host adapter)')
  .option(
    '--suite <list>',
    `comma-separated suites (${Object.keys(SUITES).join(', ')}); default: all the station supports`,
  )
  .option('--transport <list>', "only these of the device's transports (hid, nfc, ble), comma-separated")
  .option('--grep <re>', 'only tests whose "ID title" matches this regular expression')
  .option(
    '--duration <time>',
    'soak: how long the perf suite keeps signing (e.g. 90s, 10m, 2h), split over the transports',
  )
  .addOption(
    new Option('--presence <mode>', 'how user presence is given').choices(['actuator', 'prompt', 'auto']),
  )
  .option(
    '--platform <name>',
    "judge the device's transports as on this host platform (windows, windows-11, macos, linux, android, ios); default: this host's",
  )
  .option('--results <dir>', 'Allure results directory', 'reports/allure-results')
  .option('--report <dir>', 'HTML report directory', 'reports/allure-report')
  .option('--no-html', 'skip the HTML report (results are still written)')
  .option('--history <file>', 'Allure 3 history file kept across runs (trends, flaky tests, metrics)')
  .option(
    '--db <file|url>',
    "results database: a SQLite file or a postgres:// URL (default: the station's results.database, else reports/chiprig-results.db)",
  )
  .option('--no-db', 'write no results database (the results folder still has everything)')
  .option(
    '--scenario <files...>',
    'run these scenario files (YAML), or the .yaml files of these folders, instead of the suites (with --suite: both)',
  )
  .option(
    '--profile <name|file>',
    "device profile: a shipped one (mitid-chip, generic-u2f) or a YAML file; default: the station's for its own device, generic-u2f for any other",
  )
  .option(
    '--metadata <file>',
    "the device's FIDO metadata for the metadata suite: its vendor's statement (.json) or an MDS3 BLOB (JWT); default: the station's for its own device",
  )
  .option('--strict', 'advisory breaches (stricter than every official tool) fail the run (exit 1)')
  .option(
    '--record <file>',
    'write every exchange to this JSON Lines file (play back with --device replay:FILE)',
  )
  .option(
    '--repeat <n>',
    'run the selection N times (a fresh process each, results in <results>/run-N) and print a flake report (also <results>/flake-report.json); exit code: the worst run',
  )
  .exitOverride()
  .action(async (opts) => {
    if (opts.repeat !== undefined) {
      const { repeatRun } = await import('./repeat.ts');
      const at = process.argv.indexOf('run');
      process.exitCode = await repeatRun({
        ...opts,
        argv: process.argv.slice(at),
        html: opts.html !== false,
      });
      return;
    }
    const { run } = await import('./run.ts');
    process.exitCode = await run({ ...opts, html: opts.html !== false });
  });

program
  .command('report')
  .description('one HTML report from the results of several runs (stations, shards), with history')
  .argument('<dirs...>', 'Allure results folders')
  .option('--report <dir>', 'HTML report directory', 'reports/allure-report')
  .option('--history <file>', 'Allure 3 history file kept across runs')
  .exitOverride()
  .action(async (dirs: string[], opts) => {
    const { report } = await import('./report.ts');
    process.exitCode = await report(dirs, opts);
  });

program
  .command('compare')
  .description(
    'what changed from run A to run B: verdicts, measurements beyond noise, limits crossed, device identity; exit 1 when B regressed',
  )
  .argument(
    '<a>',
    'results folder, its chiprig-outcomes.json, or an Allure history file (FILE.jsonl, FILE.jsonl#N)',
  )
  .argument('<b>', 'the same for the run to judge against A')
  .option('--json <file>', 'also write the comparison as JSON (chiprig-compare/1)')
  .option('--markdown <file>', 'also write it as Markdown (also the GitHub job summary, where set)')
  .exitOverride()
  .action(async (a: string, b: string, opts) => {
    const { compare } = await import('./compare.ts');
    process.exitCode = compare(a, b, opts);
  });

const bundleCommand = program
  .command('bundle')
  .description(
    'pack a run into a signed evidence bundle (report, matrix, JUnit, requirements, profile, station, metadata, identity, recordings); "bundle verify FILE" checks one',
  )
  .argument('<results>', 'results folder of a finished chiprig run')
  .option('--out <file>', 'the bundle to write (a gzipped tar, e.g. evidence.tar.gz); required')
  .option('--station <file>', "station file whose signing key signs (default: the run's)")
  .option('--key <file>', "Ed25519 private key (PKCS#8 PEM) instead of the station's")
  .option('--report <dir>', 'an HTML report already made from these results (default: one is made)')
  .option('--recording <file>', "a recording to include besides the run's own (repeatable)", collect, [])
  // "bundle verify FILE --key K": --key is verify's own, not bundle's.
  .enablePositionalOptions()
  .exitOverride()
  .action(async (results: string, opts) => {
    const { bundle } = await import('./bundle.ts');
    process.exitCode = await bundle(results, opts);
  });
bundleCommand
  .command('verify')
  .description(
    'check a bundle: the signature with a trusted key, then every file against its digest; exit 1 naming what changed',
  )
  .argument('<file>', 'the bundle')
  .option('--key <file>', "the key to trust (public or private PEM; default: the station's signing key)")
  .option('--station <file>', 'station file whose signing key to trust (default: the built-in station)')
  .exitOverride()
  .action(async (file: string, opts) => {
    const { verify } = await import('./bundle.ts');
    process.exitCode = await verify(file, opts);
  });

program
  .command('emulate')
  .description('serve the emulated MitID chip to outside tools until stopped')
  .requiredOption(
    '--transport <kind>',
    'what to serve: hid (USB HID over two FIFOs, u2f-ref-code dev.cc protocol), nfc (a card to pcscd through vsmartcard vpcd) or ble (an HCI controller on a pty)',
  )
  .option('--fifo <path>', 'hid: path prefix of the FIFOs PATHin and PATHout (e.g. /tmp/u2f-)')
  .option('--vpcd <host:port>', "nfc: pcscd's vpcd driver address", '127.0.0.1:35963')
  .option('--hci-pty <path>', 'ble: where to create the pty an HCI-over-UART host opens')
  .option('--station <file>', 'station file whose emulator section describes the chip')
  .option('--fault <name>', 'serve the chip with a deliberate non-conformance')
  .exitOverride()
  .action(async (opts) => {
    const { emulate } = await import('./emulate.ts');
    process.exitCode = await emulate(opts);
  });

program
  .command('fuzz')
  .description(
    'fuzz one link of a device: seeded malformed input per layer, liveness probe, canary and protocol rules; each finding minimized and saved as a replay file',
  )
  .option('--station <file>', 'station file (default: the built-in emulated station)')
  .option('--device <spec>', 'device under test (as for run; e.g. emulator:FAULT, fifo:PATH, pcsc:READER)')
  .option('--transport <kind>', "the link to fuzz: hid, nfc or ble (default: the device's first)")
  .option('--layer <list>', 'only these layers: ctaphid, u2f (hid); iso7816, u2f (nfc); ble, u2f (ble)')
  .option(
    '--rule <list>',
    'only these productions or variants of the grammar, e.g. ctaphid/init-bcnt or ctaphid/init-bcnt:over-limit',
  )
  .option('--seed <n>', 'seed of the case generator (default: from the clock; printed and saved)')
  .option('--cases <n>', 'stop after this many cases')
  .option('--duration <time>', 'stop after this long (e.g. 60s, 10m)')
  .option('--timeout <ms>', 'how long the device may stay silent before it counts as hung', '1000')
  .option('--canary-every <n>', 'REGISTER + AUTHENTICATE check every N cases (0: none)', '500')
  .option('--corpus <files...>', 'recordings (chiprig run --record) whose traffic is mutated as well')
  .option('--out <dir>', 'where findings, the summary and the report go', 'reports/fuzz')
  .option('--no-html', 'skip the HTML report')
  .option('--no-minimize', 'keep each finding as found (still confirmed from a clean start)')
  .option('--stop-at-first', 'end the campaign at the first finding')
  .option('--coverage', "print V8 coverage of the emulated chip's code (rig/emulator/) the campaign reached")
  .option(
    '--replay <file>',
    'run one finding file again instead of a campaign; exit 1 when it shows a finding',
  )
  .exitOverride()
  .action(async (opts) => {
    const { fuzz } = await import('./fuzz.ts');
    process.exitCode = await fuzz(opts);
  });

program
  .command('serve')
  .description(
    'the station in a browser: live station and instruments, run control, live tests and traffic, operator prompts, history from the results database',
  )
  .option('--station <file>', 'station file (default: the built-in emulated station)')
  .option(
    '--listen <host:port>',
    'where to listen; any address but loopback needs the token (printed once, or serve.token in the station file)',
    '127.0.0.1:8070',
  )
  .option(
    '--db <file|url>',
    "results database (default: the station's results.database, else reports/chiprig-results.db)",
  )
  .option('--runs <dir>', "where each run's Allure results and report go (a folder per run)", 'reports/serve')
  .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM; with --tls-key)')
  .option('--tls-key <file>', 'the private key of --tls-cert (PEM)')
  .exitOverride()
  .action(async (opts) => {
    const { serveCommand } = await import('./serve.ts');
    process.exitCode = await serveCommand(opts);
  });

const resultsCommand = program
  .command('results')
  .description(
    'read the results database: runs (list), one run (show), results across runs (query), CSV/JSON (export), schema (migrate)',
  )
  .enablePositionalOptions();

/** The database and the filters every results command takes. */
function resultsOptions(cmd: Command, filters = true): Command {
  cmd
    .option('--db <file|url>', 'SQLite file or postgres:// URL (default: reports/chiprig-results.db)')
    .option('--station-file <file>', 'read the database this station file names (results.database)');
  if (!filters) return cmd;
  return cmd
    .option('--station <name>', 'only runs of this station')
    .option('--serial <serial>', 'only runs of the device with this serial (USB, BLE or attestation)')
    .option('--firmware <build>', 'only runs of this firmware (build, BLE revision or bcdDevice)')
    .option('--device <spec>', 'only runs of this device spec')
    .option('--requirement <id>', 'only runs (results) of this requirement ID, e.g. U2F-REG-01')
    .option(
      '--status <status>',
      'only runs with this status (running, passed, failed, broken, interrupted, empty)',
    )
    .option('--since <date>', 'only runs started at or after this date or time (UTC)')
    .option('--until <date>', 'only runs started before the end of this date, or before this time')
    .option('--limit <n>', 'at most this many rows');
}

resultsOptions(resultsCommand.command('list').description('runs, newest first'))
  .option('--json', 'machine-readable output')
  .exitOverride()
  .action(async (opts) => {
    const { list } = await import('./results.ts');
    process.exitCode = await list(opts);
  });
resultsOptions(
  resultsCommand.command('show').description('one run: device, every result and measurement'),
  false,
)
  .argument('<run>', 'run ID, or its first characters (as list shows it)')
  .option('--json', 'machine-readable output')
  .exitOverride()
  .action(async (run: string, opts) => {
    const { show } = await import('./results.ts');
    process.exitCode = await show(run, opts);
  });
resultsOptions(resultsCommand.command('query').description('results across runs'))
  .option('--outcome <outcome>', 'only results with this outcome (passed, failed, broken, skipped, advisory)')
  .option('--transport <kind>', 'only results on this transport (hid, nfc, ble)')
  .option('--json', 'as JSON')
  .option('--csv', 'as CSV')
  .exitOverride()
  .action(async (opts) => {
    const { query } = await import('./results.ts');
    process.exitCode = await query(opts);
  });
resultsOptions(resultsCommand.command('export').description('results, runs or measurements as CSV or JSON'))
  .option('--outcome <outcome>', 'only results with this outcome')
  .option('--transport <kind>', 'only results on this transport')
  .option('--table <table>', 'what to export: results, runs or measurements', 'results')
  .option('--format <format>', 'csv or json', 'csv')
  .option('--out <file>', 'write to this file (default: standard output)')
  .exitOverride()
  .action(async (opts) => {
    const { exportResults } = await import('./results.ts');
    process.exitCode = await exportResults(opts);
  });
resultsOptions(
  resultsCommand.command('migrate').description("bring the database to this chiprig's schema"),
  false,
)
  .exitOverride()
  .action(async (opts) => {
    const { migrate } = await import('./results.ts');
    process.exitCode = await migrate(opts);
  });

program
  .command('devices')
  .description(
    'list FIDO HID devices, PC/SC readers and FIDO BLE advertisers, with the --device string for each',
  )
  .option('--json', 'machine-readable output')
  .option('--hci <uart:PATH[@BAUD]>', 'Bluetooth controller to scan with (default: the host adapter)')
  .exitOverride()
  .action(async (opts) => {
    const { devices } = await import('./devices.ts');
    process.exitCode = await devices(opts);
  });

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

// Output piped into a reader that stopped (`chiprig results list | head`, or a killed chiprig
// serve reading a run's output) ends the process quietly, once a run has marked itself interrupted.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    exitEarly(typeof process.exitCode === 'number' ? process.exitCode : EXIT.BROKEN);
  });
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end here with code 0; every usage error is exit 2.
    process.exitCode = error.exitCode === 0 ? 0 : EXIT.USAGE;
  } else if (error instanceof ConfigError) {
    process.stderr.write(`chiprig: ${error.message}\n`);
    process.exitCode = EXIT.USAGE;
  } else if (error instanceof ChiprigError) {
    process.stderr.write(`chiprig: ${error.message}\n`);
    process.exitCode = EXIT.BROKEN;
  } else {
    process.stderr.write(`chiprig: internal error: ${(error as Error)?.stack ?? error}\n`);
    process.exitCode = EXIT.BROKEN;
  }
}

// Every result is on disk once the command has returned. A device stack that keeps a handle
// open past that (a PC/SC call pcscd never answers, after a card went mute) must not keep
// the process alive: the rig always exits, and says what was left open.
const lingering = setTimeout(() => {
  const open = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'Timeout');
  process.stderr.write(
    `chiprig: exiting although ${open.length ? open.join(', ') : 'work'} is still open (a device stack did not let go)\n`,
  );
  process.exit();
}, LINGER_MS);
lingering.unref();
