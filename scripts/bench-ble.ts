/**
 * BLE exchange latency for `npm run bench`: U2F VERSION and enforce-AUTHENTICATE (the
 * station's actuator presses when the chip sends KEEPALIVE "user presence needed") over
 * FIDO BLE, through noble with in-process bindings and through noble's real HCI stack on
 * a pty to the emulated controller (when socat is installed). p50 / p99 / max of n samples.
 */
import { randomBytes } from 'node:crypto';
import { socatAvailable } from '../rig/emulator/ble/hci-pty.ts';
import { Station } from '../rig/station/station.ts';
import { AUTH_P1 } from '../rig/u2f/apdu.ts';
import { encodeAuthenticate, encodeVersion } from '../rig/u2f/messages.ts';
import { latencyRow } from './latency.ts';

const station = (name: string) => new URL(`../fixtures/stations/${name}`, import.meta.url).pathname;

async function measure(file: string, samples: number): Promise<string[]> {
  const st = await Station.open({ stationFile: file });
  try {
    st.traffic.enabled = false;
    const u2f = await st.u2fOver('ble');
    const app = Uint8Array.from(randomBytes(32));
    const chal = Uint8Array.from(randomBytes(32));
    const reg = await u2f.register(chal, app);
    const rows: string[] = [];
    const cases = [
      ['VERSION', () => u2f.send(encodeVersion())],
      [
        'AUTHENTICATE',
        () => u2f.sendWithPresence(encodeAuthenticate(AUTH_P1.ENFORCE, chal, app, reg.keyHandle), 'bench'),
      ],
    ] as const;
    for (const [what, run] of cases) rows.push(await latencyRow(what, samples, run));
    return rows;
  } finally {
    await st.close();
  }
}

export async function benchBle(samples = 300): Promise<string[]> {
  const lines = ['BLE exchange latency (FIDO over GATT, emulated chip, actuator press on TUP_NEEDED):'];
  lines.push(' noble with in-process bindings:', ...(await measure(station('emulated-ble.yaml'), samples)));
  if (!socatAvailable()) {
    lines.push(" through noble's HCI stack on a pty: not measured (socat is not installed)");
    return lines;
  }
  lines.push(
    " through noble's HCI stack over a pty to the emulated controller:",
    ...(await measure(station('emulated-ble-hci.yaml'), samples)),
  );
  return lines;
}
