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
      ['BLE-SEC-01', 'ENV-TEMP-01', 'U2F-REG-2', 'U2F-REG-10'],
    );
    assert.deepEqual(rows[1]!.cells, { hid: 'broken' });
    assert.deepEqual(rows[2]!.cells, { hid: 'passed', nfc: 'failed' });
  });

  it('renders Markdown and text with a dash where a requirement did not run', () => {
    const rows = conformanceMatrix(records);
    const md = matrixMarkdown(rows);
    assert.match(md, /\| requirement \| USB HID \| NFC \| Bluetooth LE \|/);
    assert.match(md, /\| U2F-REG-2 \| passed \| FAILED \| – \|/);
    assert.match(md, /4 requirements; cells: 2 passed, 1 failed, 1 broken, 1 skipped/);
    assert.match(matrixText(rows), /ENV-TEMP-01\s+BROKEN/);
  });
});
