import { resolve } from 'node:path';
import { disputedChoices } from '../emulator/disputed.ts';
import { EmulatedChip } from '../emulator/emulated-chip.ts';
import type { FaultName } from '../emulator/faults.ts';
import { ConfigError } from '../errors.ts';
import type { StationFile } from './station-file.ts';

/** The emulated chip a station file describes (also what `chiprig emulate` serves). */
export function makeEmulator(file: StationFile, fault: FaultName | undefined): EmulatedChip {
  const e = file.emulator;
  if (!e) {
    throw new ConfigError(`station file ${file.path}: device "emulator" needs an "emulator" section`);
  }
  // counter and channelRules are the older names for three of the disputed points.
  const choices = disputedChoices(
    {
      ...(e.counter === 'per-credential' ? { 'U2F-CTR-04': 'per-credential' } : {}),
      ...(e.channelRules === 'strict'
        ? {
            'HID-INIT-03': 'strict-invalid-channel',
            'HID-CID-03': 'strict-invalid-channel',
            'HID-INIT-05': 'refused',
          }
        : {}),
      ...e.disputed,
    },
    `station file ${file.path}: emulator.disputed`,
  );
  return new EmulatedChip({
    vendorId: e.usb.vendorId,
    productId: e.usb.productId,
    manufacturer: e.manufacturer,
    product: e.product,
    serialNumber: e.serialNumber,
    counter: choices['U2F-CTR-04'],
    channelRules: choices['HID-INIT-03'] === 'legacy-echo' ? 'legacy' : 'strict',
    disputed: choices,
    presenceWindowMs: e.presenceWindowMs,
    ...(e.approvesByItself ? { approvesByItself: true } : {}),
    attestationCertificatePath: resolve(file.dir, e.attestation.certificate),
    attestationKeyPath: resolve(file.dir, e.attestation.key),
    ...(fault ? { faults: [fault] } : {}),
    ...(e.timing ? { timing: e.timing } : {}),
    ...(e.thermal ? { thermal: withoutUndefined(e.thermal) } : {}),
    ...(e.persistCounterEvery ? { persistCounterEvery: e.persistCounterEvery } : {}),
  });
}

function withoutUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never;
}
