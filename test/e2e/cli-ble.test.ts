import { itRunsBleStation } from '../support/ble-run.ts';

describe('chiprig CLI over Bluetooth LE (end to end, spawned)', function () {
  this.timeout(300_000);
  itRunsBleStation('emulated-ble.yaml', 'noble with in-process bindings');
});
