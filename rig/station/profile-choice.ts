import { dirname, resolve } from 'node:path';
import { type AttestationRoot, loadAttestationRoots } from '../u2f/attestation-chain.ts';
import { type DeviceProfile, GENERIC_PROFILE, profilePath } from './device-profile.ts';
import type { DeviceSpec } from './device-spec.ts';
import type { StationFile } from './station-file.ts';

/** The device profile a run uses, and why. */
export interface ProfileChoice {
  path: string;
  /** Shipped profile name or file path, as printed and recorded. */
  name: string;
  /** Why this one: --profile, the station's own device, a recording, or generic. */
  source: string;
  /** The device is the station's own (its profile and trust roots apply). */
  ownDevice: boolean;
}

/**
 * --profile wins; a recording is judged by the profile it was recorded with; the station's
 * profile is for the station's own device (its device spec, or the emulated chip with a
 * fault); any other device gets the generic U2F profile, which states no vendor facts and
 * leaves every disputed point open.
 */
export function chooseProfile(
  file: StationFile,
  spec: DeviceSpec,
  flag: string | undefined,
  recorded: string | undefined,
): ProfileChoice {
  const stationPath = resolve(file.dir, file.profile);
  const stationDevices = [file.device, ...(file.duts ?? []).map((d) => d.device)];
  const own = stationDevices.some(
    (device) => spec.text === device || (spec.kind === 'emulator' && /^emulator(:|$)/.test(device)),
  );
  if (flag !== undefined) return { path: profilePath(flag), name: flag, source: '--profile', ownDevice: own };
  if (recorded !== undefined) {
    return { path: profilePath(recorded), name: recorded, source: 'the recording', ownDevice: true };
  }
  if (own) return { path: stationPath, name: file.profile, source: `station ${file.name}`, ownDevice: true };
  return {
    path: profilePath(GENERIC_PROFILE),
    name: GENERIC_PROFILE,
    source: `the station does not identify ${spec.text} as its device; --profile names another`,
    ownDevice: false,
  };
}

/**
 * The attestation roots named for a device: the station's (trust.attestationRoots) for its
 * own device, else the profile's (attestationRoots).
 */
export function attestationRootsFor(
  file: StationFile,
  profile: DeviceProfile,
  choice: ProfileChoice,
): AttestationRoot[] {
  return choice.ownDevice
    ? loadAttestationRoots(
        file.trust.attestationRoots.map((p) => resolve(file.dir, p)),
        `${file.path}: trust.attestationRoots`,
      )
    : loadAttestationRoots(
        (profile.attestationRoots ?? []).map((p) => resolve(dirname(choice.path), p)),
        `${choice.path}: attestationRoots`,
      );
}
