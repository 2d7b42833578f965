import type { EmulatedChip } from '../emulator/emulated-chip.ts';
import { ConfigError } from '../errors.ts';
import { EmulatorButton, type TouchActuator } from '../instruments/touch-actuator.ts';
import type { Replayer } from '../tape/replayer.ts';
import type { TrafficLog } from '../traffic.ts';
import type { DeviceProfile } from './device-profile.ts';
import type { DeviceSpec } from './device-spec.ts';
import { PresenceController } from './presence.ts';
import type { PresenceMode, StationFile } from './station-file.ts';

/** What the actuators reach through the station once it is open. */
export interface ActuatorReach {
  /** Touches the FIFO device (its INTERRUPT 199: dev.cc's DEV_touch). */
  touchFifo(): Promise<void>;
  /** The Firmata presser of the station's power instrument, if it has one. */
  presser(): Promise<TouchActuator | undefined>;
}

/**
 * What presses the device's button for the rig, among four kinds: the emulated chip's own
 * button, the FIFO protocol's touch command, the Firmata board under instruments.power, or
 * nothing to do (a replay: its answers already hold what the presses did). Undefined: the
 * station has none (an operator is asked, or presence is auto).
 */
export function chooseActuator(
  file: StationFile,
  spec: DeviceSpec,
  emulator: EmulatedChip | undefined,
  replay: Replayer | undefined,
  reach: () => ActuatorReach,
): TouchActuator | undefined {
  // Whatever pressed the recorded device's button (an emulator, a robot, a person), its
  // answers already hold what the presses did.
  if (replay) return { name: 'replayed button', press: async () => undefined };
  const touch = file.instruments.touch?.kind ?? 'emulator-button';
  if (touch === 'firmata') {
    // The Firmata board under instruments.power presses too; it is opened on first press.
    return {
      name: 'firmata presser',
      press: async (holdMs?: number) => {
        const presser = await reach().presser();
        if (!presser) {
          throw new ConfigError(
            `station "${file.name}": instruments.touch is firmata but instruments.power is not`,
          );
        }
        await presser.press(holdMs);
      },
    };
  }
  if (emulator && touch === 'emulator-button') {
    return new EmulatorButton((holdMs) => emulator.pressButton(holdMs));
  }
  if (spec.kind === 'fifo' && touch === 'emulator-button') {
    return { name: 'fifo touch (cmd 6)', press: () => reach().touchFifo() };
  }
  return undefined;
}

/**
 * The station's presence: the mode (the flag, a recording's, the station file's, else
 * actuator when there is one, prompt when a button must be pressed, auto when every link's
 * presence is its own gesture) and the actuator behind it.
 */
export function stationPresence(init: {
  file: StationFile;
  spec: DeviceSpec;
  emulator: EmulatedChip | undefined;
  replay: Replayer | undefined;
  profile: DeviceProfile;
  traffic: TrafficLog;
  mode: PresenceMode | undefined;
  buttonNeeded: boolean;
  prompt: ((text: string) => void) | undefined;
  reach: () => ActuatorReach;
}): PresenceController {
  const { file, spec, replay, profile } = init;
  const actuator = chooseActuator(file, spec, init.emulator, replay, init.reach);
  const mode: PresenceMode =
    init.mode ??
    replay?.header.presence ??
    file.presence ??
    (actuator ? 'actuator' : init.buttonNeeded ? 'prompt' : 'auto');
  if (mode === 'actuator' && !actuator) {
    throw new ConfigError(
      `--presence actuator: the station "${file.name}" has no touch actuator that can press ${spec.text}; use --presence prompt or auto`,
    );
  }
  return new PresenceController({
    mode,
    log: init.traffic,
    ...(mode === 'actuator' && actuator ? { actuator } : {}),
    timeoutMs: file.timeouts.presenceMs ?? profile.presence.timeoutMs,
    pollMs: profile.presence.pollMs,
    ...(init.prompt ? { prompt: init.prompt } : {}),
  });
}
