import { basename } from 'node:path';
import { activeRun } from '../../rig/run/context.ts';
import { runScenario } from '../../rig/scenario/runner.ts';
import { area, TRANSPORT_NAMES } from '../support/conformance.ts';
import { getStation } from '../support/context.ts';

// Scenario files (YAML) run as tests: `chiprig run --scenario FILE...`, or under plain
// mocha the shipped examples (scenarios/) or CHIPRIG_SCENARIOS.
const station = await getStation();

for (const loaded of activeRun().scenarios()) {
  const s = loaded.scenario;
  describe(`${TRANSPORT_NAMES[s.transport]} · scenario ${basename(loaded.file)}`, () => {
    const check = area(station, s.transport, 'Scenarios');
    // A scenario's lab actions may open the station's instruments (chamber, power switch).
    after(() => station.closeInstruments());
    check(s.id, s.scenario, (ctx) => runScenario(loaded, ctx), {
      // Each scenario step is a report step of its own, with its traffic.
      exchangeSteps: false,
      timeoutMs: s.timeoutMs ?? 60_000,
      ...(s.description ? { description: s.description } : {}),
    });
  });
}
