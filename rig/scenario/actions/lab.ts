/**
 * Lab actions: what the station does to the device rather than say to it (press its
 * button, cut its power, take it out of the field, change the chamber's temperature, put it
 * in pairing mode) and waiting. A station that cannot do one skips the scenario, saying why.
 */
import { settle } from '../../instruments/chamber.ts';
import type { ActionHandler } from '../action.ts';
import type { Action } from '../schema.ts';
import { durationMs } from '../values.ts';

export const LAB_ACTIONS = {
  press: {
    async run({ station }, _step, where) {
      await station.presence.request(`scenario ${where}`);
      return {};
    },
  },

  'power-cycle': {
    async run({ station, ctx }, _step, where) {
      if (station.canPowerCycle) await station.powerCycle();
      else {
        const power = (await station.openInstruments()).power;
        if (!power) ctx.skip(`${where}: the station cannot cut the chip's power (no power switch)`);
        await station.setPower(false);
        await station.setPower(true);
      }
      return {};
    },
  },

  tap: {
    async run({ station }) {
      await station.fieldCycle();
      return {};
    },
  },

  chamber: {
    async run({ station, ctx }, step, where) {
      const { chamber, chamberSettle } = await station.openInstruments();
      if (!chamber) return ctx.skip(`${where}: the station has no climate chamber (instruments.chamber)`);
      const reading = await settle(chamber, {
        timeoutMs: 2 * 3_600_000,
        toleranceC: 1,
        soakMs: 0,
        ...chamberSettle,
        target: step.chamber!.celsius,
      });
      ctx.observe(`${where}: chamber settled at ${reading} C`);
      return {};
    },
    describe: (step, name) => `chamber${name} to ${step.chamber!.celsius} C`,
  },

  wait: {
    async run(_run, step) {
      await new Promise((resolve) => setTimeout(resolve, durationMs(step.wait!)));
      return {};
    },
    describe: (step, name) => `wait${name} ${step.wait}`,
  },

  'pairing-mode': {
    async run({ station, ctx }, step, where) {
      if (!station.canSetPairingMode) {
        ctx.skip(
          `${where}: the rig cannot put ${station.deviceSpec.text} in or out of pairing mode (hold its button by hand)`,
        );
      }
      station.setPairingMode(step['pairing-mode']!);
      return {};
    },
    describe: (step, name) => `pairing mode${name} ${step['pairing-mode'] ? 'on' : 'off'}`,
  },
} satisfies Partial<Record<Action, ActionHandler>>;
