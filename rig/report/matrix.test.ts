import assert from 'node:assert/strict';
import type { TestRecord } from './console.ts';
import { conformanceMatrix, matrixMarkdown, matrixText, requirementOf } from './matrix.ts';

const rec = (area: string, title: string, outcome: TestRecord['outcome']): TestRecord => ({
  area,
  title,
  outcome,
  durationMs: 1,
});

describe('report/matrix: requirement × transport', () => {
  const records = [
    rec('USB HID · U2F REGISTER', 'U2F-REG-10 REGISTER then AUTH', 'passed'),
    rec('USB HID · U2F REGISTER', 'U2F-REG-2 short body', 'passed'),
    rec('NFC · U2F REGISTER', 'U2F-REG-2 short body', 'failed'),
    rec('USB HID · temperature', 'ENV-TEMP-01 at -10 C', 'passed'),
    rec('USB HID · temperature', 'ENV-TEMP-01 at -10 C again', 'broken'),
    rec('Bluetooth LE · link', 'BLE-SEC-01 pairing', 'skipped'),
    rec('(root)', 'a hook (hook)', 'broken'),
    rec('USB HID · U2F INS and CLA', 'U2F-INS-02 sweep', 'advisory'),
  ];

  it('reads the ID from the title and the transport from the area', () => {
    assert.deepEqual(requirementOf(records[0]!), { id: 'U2F-REG-10', transport: 'hid' });
    assert.deepEqual(requirementOf(records[5]!), { id: 'BLE-SEC-01', transport: 'ble' });
    assert.equal(requirementOf(records[6]!), undefined);
  });

  it('one row per requirement in natural order; several tests on one transport: the worst counts', () => {
    const rows = conformanceMatrix(records);
    assert.deepEqual(
      rows.map((r) => r.id),
      ['BLE-SEC-01', 'ENV-TEMP-01', 'U2F-INS-02', 'U2F-REG-2', 'U2F-REG-10'],
    );
    assert.deepEqual(rows[1]!.cells, { hid: 'broken' });
    assert.deepEqual(rows[3]!.cells, { hid: 'passed', nfc: 'failed' });
  });

  it("takes each row's strength from the requirements file (a series entry covers its members)", () => {
    const rows = conformanceMatrix(records);
    const strength = Object.fromEntries(rows.map((r) => [r.id, r.strength]));
    assert.equal(strength['BLE-SEC-01'], 'required');
    assert.equal(strength['ENV-TEMP-01'], 'required');
    assert.equal(strength['U2F-INS-02'], 'advisory');
    assert.equal(strength['U2F-REG-2'], 'unlisted');
  });

  it('renders Markdown and text with a dash where a requirement did not run', () => {
    const rows = conformanceMatrix(records);
    const md = matrixMarkdown(rows);
    assert.match(md, /\| requirement \| strength \| USB HID \| NFC \| Bluetooth LE \|/);
    assert.match(md, /\| U2F-REG-2 \| unlisted \| passed \| FAILED \| – \|/);
    assert.match(md, /\| U2F-INS-02 \| advisory \| ADVISORY \| – \| – \|/);
    assert.match(md, /5 requirements; cells: 2 passed, 1 failed, 1 broken, 1 skipped, 1 advisory/);
    assert.match(matrixText(rows), /ENV-TEMP-01\s+required\s+BROKEN/);
  });
});
