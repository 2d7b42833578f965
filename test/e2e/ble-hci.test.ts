import { itRunsBleStation } from '../support/ble-run.ts';

describe('chiprig CLI over Bluetooth LE through a real HCI stack (end to end, spawned; its link timers run alone)', function () {
  this.timeout(300_000);
  itRunsBleStation('emulated-ble-hci.yaml', "noble's HCI stack over a pty to the emulated controller");
});
