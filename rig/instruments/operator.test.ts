import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { InstrumentError } from '../errors.ts';
import { ManualChamber, Operator, OperatorUnavailable } from './operator.ts';

function terminal() {
  const input = Object.assign(new PassThrough(), { isTTY: true });
  const output = new PassThrough();
  let shown = '';
  output.on('data', (d: Buffer) => {
    shown += d.toString();
  });
  return { input, output, shown: () => shown };
}

describe('operator prompts', () => {
  it('without a terminal, says nobody can answer at once (the suites skip)', async () => {
    const op = new Operator({ interactive: false });
    await assert.rejects(
      op.ask('Tap the card', 10_000),
      (e: unknown) => e instanceof OperatorUnavailable && /needs a person/.test((e as Error).message),
    );
  });

  it('waits for Enter and returns what was typed', async () => {
    const t = terminal();
    const op = new Operator({ input: t.input, output: t.output, interactive: true });
    const answer = op.ask('Set the chamber to -10 C', 5000);
    t.input.write('-9.8\n');
    assert.equal(await answer, '-9.8');
    assert.match(t.shown(), />>> Set the chamber to -10 C \(press Enter; 5 s\) <<</);
  });

  it('gives up after its timeout with an instrument error', async () => {
    const t = terminal();
    const op = new Operator({ input: t.input, output: t.output, interactive: true });
    await assert.rejects(
      op.ask('Tap the card', 50),
      (e: unknown) => e instanceof InstrumentError && (e as InstrumentError).code === 'TIMEOUT',
    );
  });

  it('a manual chamber takes the operator-confirmed reading', async () => {
    const t = terminal();
    const chamber = new ManualChamber(new Operator({ input: t.input, output: t.output, interactive: true }), {
      timeoutMs: 5000,
    });
    const set = chamber.setSetPoint(40);
    t.input.write('\n');
    await set;
    assert.equal(await chamber.readTemperature(), 40);
    const again = chamber.setSetPoint(-10);
    t.input.write('-10.5\n');
    await again;
    assert.equal(await chamber.readTemperature(), -10.5);
  });
});
