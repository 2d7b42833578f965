import assert from 'node:assert/strict';
import { BatteryModel } from './battery.ts';

describe('battery model', () => {
  it('starts full at 35 mAh and loses charge per signature', () => {
    const b = new BatteryModel();
    assert.equal(b.capacityMah, 35);
    assert.equal(b.level, 100);
    b.signed(1750); // 3.5 mAh at 0.002 mAh each
    assert.equal(b.level, 90);
    assert.ok(Math.abs(b.remainingMah - 31.5) < 1e-9);
  });

  it('never goes below 0 or above 100 %, and charging restores it', () => {
    const b = new BatteryModel({ stateOfCharge: 0.01 });
    b.signed(1_000_000);
    assert.equal(b.level, 0);
    b.charge();
    assert.equal(b.level, 100);
    assert.throws(() => new BatteryModel({ stateOfCharge: 2 }), /stateOfCharge/);
  });
});
