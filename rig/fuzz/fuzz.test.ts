import assert from 'node:assert/strict';
import { caseGroups, ddmin } from './campaign.ts';
import { messageCount, type Step } from './case.ts';
import { type GenContext, generate, productionsFor } from './grammar.ts';
import { Prng } from './prng.ts';

const ctx = (seed: number, transport: 'hid' | 'nfc' | 'ble'): GenContext => ({
  rng: new Prng(seed),
  transport,
  controlPointLength: 20,
  corpus: [],
});

describe('fuzz: generator, minimizer, sequences', () => {
  it('the same seed gives the same cases; another seed others', () => {
    const run = (seed: number) =>
      Array.from({ length: 200 }, () =>
        JSON.stringify(generate(ctx(seed, 'hid'), productionsFor('hid')).fuzzCase),
      );
    const g1 = ctx(1, 'hid');
    const g1b = ctx(1, 'hid');
    const a = Array.from({ length: 200 }, () => JSON.stringify(generate(g1, productionsFor('hid')).fuzzCase));
    const b = Array.from({ length: 200 }, () =>
      JSON.stringify(generate(g1b, productionsFor('hid')).fuzzCase),
    );
    assert.deepEqual(a, b);
    assert.notDeepEqual(run(1), run(2));
  });

  it('every production makes steps of its link only, HID reports of at most 60 bytes after the CID', () => {
    for (const transport of ['hid', 'nfc', 'ble'] as const) {
      const g = ctx(3, transport);
      const want = { hid: 'report', nfc: 'apdu', ble: 'fragment' }[transport];
      for (let i = 0; i < 2000; i++) {
        const { fuzzCase } = generate(g, productionsFor(transport));
        assert.ok(fuzzCase.steps.length > 0, fuzzCase.rule);
        for (const s of fuzzCase.steps) {
          assert.equal(s.kind, want, fuzzCase.rule);
          if (s.kind === 'report') assert.ok(s.data.length <= 120, fuzzCase.rule);
        }
      }
    }
  });

  it('ddmin finds the two items that together reproduce, in few trials', async () => {
    const input = Array.from({ length: 64 }, (_, i) => i);
    let trials = 0;
    const out = await ddmin(input, async (c) => {
      trials++;
      return c.includes(17) && c.includes(42);
    });
    assert.deepEqual(out, [17, 42]);
    assert.ok(trials < 100, `${trials} trials`);
  });

  it('a sequence of cases splits back into its cases; messages are counted as the link frames them', () => {
    const steps: Step[] = [
      { kind: 'report', cid: 'A', data: '8100ff', case: 0 },
      { kind: 'report', cid: 'A', data: '00', case: 0 },
      { kind: 'report', cid: 'B', data: '8600', case: 3 },
    ];
    assert.deepEqual(
      caseGroups(steps).map((g) => g.length),
      [2, 1],
    );
    assert.equal(caseGroups(steps)[0]![0]!.case, undefined);
    assert.equal(messageCount(steps), 2);
    assert.equal(
      messageCount([
        { kind: 'apdu', data: '00a4' },
        { kind: 'apdu', data: '00c0' },
      ]),
      2,
    );
  });
});
