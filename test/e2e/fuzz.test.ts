import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../../rig/cli/exit-codes.ts';
import { FUZZ_FAULTS } from '../../rig/emulator/faults.ts';
import { type CampaignResult, type FindingKind, runCampaign } from '../../rig/fuzz/campaign.ts';
import type { FuzzTransport } from '../../rig/fuzz/case.ts';
import { Station } from '../../rig/station/station.ts';
import { chiprig, tmp } from '../support/spawn.ts';

/**
 * chiprig fuzz against emulated chips with known parser bugs (one crash or hang per link at
 * least, and a state corruption): each is found by a short seeded campaign, confirmed and
 * minimized to at most three messages from a clean start; the clean chip gives nothing.
 */
// Short, so a crash costs little; the clean chip gets a second, so a busy host is never a hang.
const TIMEOUT_MS = 300;
const CLEAN_TIMEOUT_MS = 1000;

async function campaign(
  device: string,
  transport: FuzzTransport,
  seed: number,
  cases: number,
  timeoutMs = TIMEOUT_MS,
): Promise<CampaignResult> {
  const emulatorMasterKey = new Uint8Array(randomBytes(32));
  const options = { device, transports: [transport], emulatorMasterKey, exchangeTimeoutMs: timeoutMs };
  const station = await Station.open(options);
  try {
    return await runCampaign(station, {
      transport,
      seed,
      maxCases: cases,
      timeoutMs,
      canaryEvery: 100,
      stopAtFirst: true,
      cleanStart: async () => {
        const fresh = await Station.open(options);
        return { station: fresh, release: () => fresh.close() };
      },
    });
  } finally {
    await station.close();
  }
}

const FOUND: { fault: string; transport: FuzzTransport; kind: FindingKind }[] = [
  { fault: 'dies-on-oversized-init', transport: 'hid', kind: 'crash' },
  { fault: 'wedges-busy-after-bad-seq', transport: 'hid', kind: 'hang' },
  { fault: 'crashes-on-short-key-handle', transport: 'hid', kind: 'crash' },
  { fault: 'crashes-on-short-key-handle', transport: 'ble', kind: 'crash' },
  { fault: 'counter-reset-by-bad-p1', transport: 'hid', kind: 'corruption' },
  { fault: 'counter-reset-by-bad-p1', transport: 'nfc', kind: 'corruption' },
  { fault: 'counter-reset-by-bad-p1', transport: 'ble', kind: 'corruption' },
  { fault: 'nfc-mute-on-stray-get-response', transport: 'nfc', kind: 'hang' },
  { fault: 'ble-crash-on-long-init', transport: 'ble', kind: 'crash' },
  // A suite-level fault: the protocol rules see it too.
  { fault: 'msg-answered-with-error', transport: 'hid', kind: 'violation' },
];

describe('chiprig fuzz: emulated chips with known bugs', function () {
  this.timeout(120_000);

  it('FUZZ-E2E-01 the table covers every fuzz fault and gives each link a crash or a hang', () => {
    for (const [name, f] of Object.entries(FUZZ_FAULTS)) {
      for (const t of f.transports) {
        assert.ok(
          FOUND.some((x) => x.fault === name && x.transport === t),
          `${name} over ${t} is not tried`,
        );
      }
    }
    for (const t of ['hid', 'nfc', 'ble'] as const) {
      assert.ok(
        FOUND.some((x) => x.transport === t && (x.kind === 'crash' || x.kind === 'hang')),
        t,
      );
    }
  });

  for (const { fault, transport, kind } of FOUND) {
    it(`FUZZ-E2E-02 ${fault} over ${transport}: found as a ${kind}, confirmed, at most three messages`, async () => {
      const result = await campaign(`emulator:${fault}`, transport, 11, 3000);
      const f = result.findings[0];
      assert.ok(f, `no finding in ${result.cases} cases (${result.ended ?? 'campaign ran out'})`);
      assert.equal(f.kind, kind, `${f.id}: ${f.detail}`);
      assert.equal(f.confirmed, true, `${f.id} not confirmed: ${f.minimizeNote}`);
      assert.ok(f.messages <= 3, `${f.id}: ${f.messages} messages (${f.steps.length} steps)`);
      assert.ok(f.traffic.length > 0 && f.confirmTraffic.length > 0, 'the traffic is kept');
    });
  }

  it('FUZZ-E2E-03 the clean chip: no finding over 3000 cases on each link', async () => {
    for (const transport of ['hid', 'nfc', 'ble'] as const) {
      const result = await campaign('emulator', transport, 5, 3000, CLEAN_TIMEOUT_MS);
      assert.deepEqual(
        result.findings.map((f) => `${f.id} ${f.detail}`),
        [],
        `${transport}: findings on the clean chip`,
      );
      assert.equal(result.cases, 3000);
      assert.ok(result.canaries >= 30, `${transport}: ${result.canaries} canaries`);
      assert.equal(
        result.coverage.hit,
        result.coverage.total,
        `${transport}: missed ${result.coverage.missed}`,
      );
    }
  });

  it('FUZZ-E2E-04 the CLI: a finding file, the summary and the report; --replay shows it again, not on the clean chip', async () => {
    const out = tmp();
    const args = [
      '--transport',
      'nfc',
      '--seed',
      '11',
      '--cases',
      '3000',
      '--timeout',
      '200',
      '--stop-at-first',
    ];
    const found = await chiprig([
      'fuzz',
      '--device',
      'emulator:nfc-mute-on-stray-get-response',
      ...args,
      '--out',
      out,
    ]);
    assert.equal(found.code, EXIT.FAILED, found.stderr + found.stdout);
    const summary = JSON.parse(readFileSync(join(out, 'fuzz-summary.json'), 'utf8'));
    assert.equal(summary.findings.length, 1);
    assert.equal(summary.findings[0].kind, 'hang');
    const file = join(out, 'findings', `${summary.findings[0].id}.json`);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(saved.format, 'chiprig-fuzz-finding');
    assert.match(saved.identity['attestation subject'] ?? '', /TEST/, 'the device identity is in the file');
    assert.match(found.stdout, /FUZZ-HANG-01 FAILED/);
    assert.match(readFileSync(join(out, 'allure-report', 'index.html'), 'utf8'), /<html/i);
    const again = await chiprig(['fuzz', '--replay', file]);
    assert.equal(again.code, EXIT.FAILED, again.stderr + again.stdout);
    assert.match(again.stdout, /reproduced: hang/);
    const clean = await chiprig(['fuzz', '--replay', file, '--device', 'emulator']);
    assert.equal(clean.code, EXIT.PASSED, clean.stderr + clean.stdout);
    assert.match(clean.stdout, /did not reproduce/);
  });
});
