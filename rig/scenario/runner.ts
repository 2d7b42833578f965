import { isAbsolute, relative } from 'node:path';
import { u32be } from '../bytes.ts';
import { ChiprigError } from '../errors.ts';
import { attachTraffic, flushSteps, scenarioStep } from '../report/allure.ts';
import type { ActionHandler, Answer, Run, ScenarioContext } from './action.ts';
import { ACTION_HANDLERS } from './actions/index.ts';
import { capture, check } from './expect.ts';
import type { LoadedScenario, LoadedStep } from './load.ts';
import type { Step } from './schema.ts';

export type { ScenarioContext } from './action.ts';

/**
 * Runs a scenario's steps in order, each an Allure step with its own traffic. A failed
 * expectation is a device failure naming the step, its line and the bytes; a lab action
 * the station cannot do skips the scenario with the reason.
 */
export async function runScenario(loaded: LoadedScenario, ctx: ScenarioContext): Promise<void> {
  const { station } = ctx;
  const transport = loaded.scenario.transport;
  if (!station.transports.includes(transport)) {
    ctx.skip(
      `the scenario runs over ${transport}; ${station.deviceSpec.text} on this station has ${station.transports.join(', ')}`,
    );
  }
  const run: Run = {
    station,
    ctx,
    loaded,
    u2f: await station.u2fOver(transport),
    vars: new Map(),
    credentials: new Map(),
  };
  await runSteps(run, loaded.steps, '');
}

async function runSteps(run: Run, steps: readonly LoadedStep[], round: string): Promise<void> {
  for (const ls of steps) {
    const where = `step ${ls.label} (${shown(run.loaded.file)}:${ls.line}${round})`;
    await scenarioStep(`${where}: ${describe(ls.step, ls.action)}`, async () => {
      const from = run.station.traffic.size;
      try {
        if (ls.action === 'repeat') {
          for (let i = 1; i <= ls.step.repeat!.count; i++) {
            run.vars.set('i', i);
            await runSteps(run, ls.children!, `${round}, round ${i}`);
          }
          return;
        }
        if (run.loaded.scenario.transport === 'hid')
          run.vars.set('cid', u32be((await run.station.hid()).cid));
        const answer = await execute(run, ls.step, ls.action, where);
        check(run, ls.step, ls.action, answer, where);
        capture(run, ls.step, answer);
      } catch (error) {
        throw located(error, where);
      } finally {
        // Notes logged during the step first, so the traffic lands in the step itself.
        await flushSteps();
        if (ls.action !== 'repeat') await attachTraffic(run.station.traffic.entriesSince(from), 0);
      }
    });
  }
}

function handlerOf(action: string): ActionHandler | undefined {
  return Object.hasOwn(ACTION_HANDLERS, action)
    ? ACTION_HANDLERS[action as keyof typeof ACTION_HANDLERS]
    : undefined;
}

/** Does the step's action (a handler from actions/, by the action's name). */
async function execute(run: Run, step: Step, action: string, where: string): Promise<Answer> {
  const handler = handlerOf(action);
  if (!handler) throw new ChiprigError('SCENARIO', `${where}: unknown action ${action}`);
  return handler.run(run, step, where);
}

/** The step's text in the report: its action and the values that matter. */
function describe(step: Step, action: string): string {
  const name = step.name ? ` "${step.name}"` : '';
  if (action === 'repeat') return `repeat${name} ${step.repeat!.count} times`;
  const handler = handlerOf(action);
  return handler?.describe ? handler.describe(step, name) : `${action}${name}`;
}

/** The step's place in front of an error's message (device failures and link faults alike). */
function located(error: unknown, where: string): unknown {
  if (error instanceof Error && error.constructor.name !== 'Pending' && !error.message.startsWith('step ')) {
    error.message = error.message.startsWith(where) ? error.message : `${where}: ${error.message}`;
  }
  return error;
}

/** A scenario file as the report shows it: relative to the working folder when inside it. */
function shown(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}
