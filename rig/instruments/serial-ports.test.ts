import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hintFor, listSerialPorts } from './serial-ports.ts';

describe('serial port listing', () => {
  it('names known instruments from their USB IDs', () => {
    assert.equal(hintFor('1915', 'C00A'), 'Nordic PPK2 (power meter)');
    assert.match(hintFor('2341', '0043') ?? '', /Arduino Uno/);
    assert.equal(hintFor('dead', 'beef'), undefined);
    assert.equal(hintFor(undefined, '0043'), undefined);
  });

  it('falls back to /dev entries, and says why, when udevadm is missing', async () => {
    const dev = mkdtempSync(join(tmpdir(), 'chiprig-dev-'));
    writeFileSync(join(dev, 'ttyACM0'), '');
    writeFileSync(join(dev, 'ttyUSB1'), '');
    writeFileSync(join(dev, 'tty0'), '');
    mkdirSync(join(dev, 'serial', 'by-id'), { recursive: true });
    symlinkSync('../../ttyACM0', join(dev, 'serial', 'by-id', 'usb-Arduino__www.arduino.cc__0043_7583-if00'));
    const missing = Object.assign(new Error('spawn udevadm ENOENT'), { code: 'ENOENT' });
    const r = await listSerialPorts({ list: () => Promise.reject(missing), devDir: dev });
    assert.match(r.problem ?? '', /udevadm is not installed/);
    assert.deepEqual(
      r.ports.map((p) => p.path),
      [join(dev, 'ttyACM0'), join(dev, 'ttyUSB1')],
    );
    assert.match(r.ports[0]?.manufacturer ?? '', /Arduino__www\.arduino\.cc__0043_7583/);
  });

  it('reports a lister that hangs instead of waiting for it', async () => {
    const r = await listSerialPorts({
      list: () => new Promise(() => undefined),
      devDir: '/nonexistent',
      timeoutMs: 50,
    });
    assert.match(r.problem ?? '', /no answer in 50 ms/);
    assert.deepEqual(r.ports, []);
  });

  it('passes through what the system lister found, with hints', async () => {
    const r = await listSerialPorts({
      list: async () => [
        {
          path: '/dev/ttyACM3',
          manufacturer: 'Nordic Semiconductor',
          vendorId: '1915',
          productId: 'c00a',
        } as never,
      ],
    });
    assert.equal(r.problem, undefined);
    assert.equal(r.ports[0]?.hint, 'Nordic PPK2 (power meter)');
  });
});
