/** Test support: an emulated MitID chip over BLE with the real U2F core (not a test file). */

import { Authenticator } from '../../rig/emulator/authenticator.ts';
import { connectDirect } from '../../rig/emulator/ble/direct-link.ts';
import { FidoBlePeripheral, type FidoBlePeripheralOptions } from '../../rig/emulator/ble/fido-peripheral.ts';
import { PresenceSource } from '../../rig/emulator/presence.ts';
import { attestationCertificate, attestationKey } from '../../rig/emulator/test-attestation.ts';
import { BleTransport, type BleTransportOptions } from '../../rig/transport/ble/ble-transport.ts';

/** Short timings so the whole BLE test set stays well under 10 s. */
export const FAST = { keepaliveMs: 50, presenceTimeoutMs: 1500, requestTimeoutMs: 300 } as const;

export function emulatedChip(options: Partial<FidoBlePeripheralOptions> = {}) {
  const presence = new PresenceSource({ windowMs: 2000 });
  const authenticator = new Authenticator({ attestationCertificate, attestationKey, presence });
  const peripheral = new FidoBlePeripheral({
    core: (apdu, p) => authenticator.process(apdu, p),
    presence,
    ...FAST,
    ...options,
  });
  return { presence, authenticator, peripheral };
}

/** A chip, a direct link and an open BleTransport on it. */
export async function openChip(
  options: Partial<FidoBlePeripheralOptions> = {},
  transportOptions: BleTransportOptions = {},
  mtu?: number,
) {
  const chip = emulatedChip(options);
  const link = connectDirect(chip.peripheral, mtu === undefined ? {} : { mtu });
  const transport = await BleTransport.open(link, { timeoutMs: 2000, ...transportOptions });
  return { ...chip, link, transport };
}

export { attestationCertificate, attestationKey };
