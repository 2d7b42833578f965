/**
 * Fuzz cases per second for `npm run bench`: a clean-chip campaign of a fixed length over
 * each link (HID, NFC in process, NFC through pcscd + vpcd with the card in its own
 * process, BLE), liveness probe after every case and a canary every 500, as `chiprig fuzz`
 * runs it.
 */
import { randomBytes } from 'node:crypto';
import { runCampaign } from '../rig/fuzz/campaign.ts';
import type { FuzzTransport } from '../rig/fuzz/case.ts';
import { Station } from '../rig/station/station.ts';
import type { StationOptions } from '../rig/station/station-options.ts';
import { pcscUnavailableReason } from '../rig/transport/nfc/nfc-pcsc.ts';
import { serveCard } from './bench-nfc-clients.ts';

async function rate(options: StationOptions, transport: FuzzTransport, cases: number): Promise<string> {
  const station = await Station.open({
    ...options,
    transports: [transport],
    emulatorMasterKey: new Uint8Array(randomBytes(32)),
  });
  try {
    const r = await runCampaign(station, {
      transport,
      seed: 1,
      maxCases: cases,
      timeoutMs: 1000,
      canaryEvery: 500,
    });
    const perSecond = r.cases / (r.elapsedMs / 1000);
    return `${perSecond.toFixed(0).padStart(8)} cases/s  (${r.cases} cases in ${(r.elapsedMs / 1000).toFixed(2)} s, ${r.findings.length} findings, grammar ${r.coverage.hit}/${r.coverage.total})`;
  } finally {
    await station.close();
  }
}

export async function benchFuzz(cases = 20000): Promise<string[]> {
  const lines = [
    `fuzz campaign rate (clean emulated chip, ${cases} cases per link, probe after every case):`,
  ];
  lines.push(`  USB HID (in process)            ${await rate({}, 'hid', cases)}`);
  lines.push(`  NFC (in-process reader)         ${await rate({}, 'nfc', cases)}`);
  const down = pcscUnavailableReason();
  if (down) lines.push(`  NFC (pcscd + vpcd)              not measured: ${down}`);
  else {
    const card = await serveCard();
    await new Promise((r) => setTimeout(r, 1000)); // pcscd polls vpcd for the card
    try {
      lines.push(
        `  NFC (pcscd + vpcd, own process) ${await rate({ device: 'pcsc:Virtual PCD' }, 'nfc', Math.min(cases, 5000))}`,
      );
    } finally {
      card.kill('SIGTERM');
    }
  }
  lines.push(`  Bluetooth LE (in-process noble) ${await rate({}, 'ble', cases)}`);
  return lines;
}
