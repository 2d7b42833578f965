/**
 * Every scenario action's handler, by action name (schema.ts ACTIONS): the U2F, raw link
 * and lab actions. `repeat` is not an action on the device: the runner runs its steps.
 */
import type { ActionHandler } from '../action.ts';
import type { Action } from '../schema.ts';
import { LAB_ACTIONS } from './lab.ts';
import { LINK_ACTIONS } from './link.ts';
import { U2F_ACTIONS } from './u2f.ts';

export const ACTION_HANDLERS: Record<Exclude<Action, 'repeat'>, ActionHandler> = {
  ...U2F_ACTIONS,
  ...LINK_ACTIONS,
  ...LAB_ACTIONS,
};
