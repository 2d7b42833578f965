/**
 * NFC exchange latency for `npm run bench`: U2F VERSION and AUTHENTICATE round trips over
 * the emulated chip's NFC link, in process and through pcscd + vpcd (when pcscd runs), as
 * p50 / p99 / max from N samples each. Which vpcd Nagle fix was in force is printed with
 * the pcscd figures: without one, each APDU costs ~44 ms (docs on vpcd).
 */

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Station } from '../rig/station/station.ts';
import { pcscUnavailableReason } from '../rig/transport/nfc/nfc-pcsc.ts';
import { AUTH_P1 } from '../rig/u2f/apdu.ts';
import { encodeAuthenticate, encodeVersion } from '../rig/u2f/messages.ts';
import { latencyRow } from './latency.ts';

const VPCD_STATION = new URL('../fixtures/stations/emulated-vpcd.yaml', import.meta.url).pathname;
const NAGLE_MARKER = '/run/pcscd/chiprig-nagle-fix';

async function measure(station: Station, samples: number): Promise<string[]> {
  station.traffic.enabled = false;
  const u2f = await station.u2fOver('nfc');
  const app = Uint8Array.from(randomBytes(32));
  const chal = Uint8Array.from(randomBytes(32));
  const reg = await u2f.register(chal, app);
  const rows: string[] = [];
  for (const [what, apdu] of [
    ['VERSION', encodeVersion()],
    ['AUTHENTICATE', encodeAuthenticate(AUTH_P1.ENFORCE, chal, app, reg.keyHandle)],
  ] as const) {
    rows.push(await latencyRow(what, samples, () => u2f.send(apdu)));
  }
  return rows;
}

export async function benchNfc(samples = 1000): Promise<string[]> {
  const lines = ['NFC exchange latency (U2F over ISO 7816-4, emulated chip):'];
  const inProcess = await Station.open();
  try {
    lines.push(' in process (emulated reader):', ...(await measure(inProcess, samples)));
  } finally {
    await inProcess.close();
  }
  const down = pcscUnavailableReason();
  if (down) {
    lines.push(` through pcscd + vpcd: not measured (${down})`);
    return lines;
  }
  const fix = existsSync(NAGLE_MARKER)
    ? readFileSync(NAGLE_MARKER, 'utf8').trim()
    : 'unknown (pcscd not started by scripts/pcscd-start.sh)';
  const viaPcscd = await Station.open({ stationFile: VPCD_STATION });
  try {
    lines.push(
      ` through pcscd -> vpcd, the card in this process (Nagle fix in force: ${fix}):`,
      ...(await measure(viaPcscd, samples)),
    );
  } finally {
    await viaPcscd.close();
  }
  return lines;
}
