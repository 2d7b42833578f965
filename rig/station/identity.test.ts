import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { packagePath } from '../paths.ts';
import { describeIdentity, identityLine, identityParameters } from './identity.ts';

const CERT = new Uint8Array(
  new X509Certificate(readFileSync(packagePath('fixtures/attestation/batch-cert.pem'))).raw,
);

describe('device identity', () => {
  it('names the USB descriptors, the BLE Device Information, the certificate and the declared fields, in order', () => {
    const id = describeIdentity({
      usb: {
        path: 'x',
        vendorId: 0x1209,
        productId: 1,
        manufacturer: 'm',
        product: 'p',
        serialNumber: 's1',
        release: 0x0123,
      },
      dis: { manufacturer: 'M', model: 'X', firmware: '2.1' },
      attestation: CERT,
      declared: { batch: 'B7', firmwareBuild: 'fw 42' },
    });
    assert.deepEqual(Object.keys(id), [
      'USB manufacturer',
      'USB product',
      'USB vendor:product',
      'USB serial',
      'USB bcdDevice',
      'BLE manufacturer',
      'BLE model',
      'BLE firmware revision',
      'attestation subject',
      'attestation serial',
      'attestation key id',
      'batch',
      'firmware build',
    ]);
    assert.equal(id['USB vendor:product'], '1209:0001');
    assert.equal(id['USB bcdDevice'], '1.23 (0x0123)');
    assert.match(id['attestation subject']!, /TEST/);
    assert.equal(id['attestation key id'], '8cf24f2667ca33b580f68c2c4d13f7bb4a91229a');
    assert.equal(identityParameters(id)['device: batch'], 'B7');
    assert.equal(
      identityLine(id),
      'p, serial s1, firmware fw 42, attestation key 8cf24f2667ca33b580f68c2c4d13f7bb4a91229a',
    );
  });

  it('escapes device text and says why a certificate was not read', () => {
    const id = describeIdentity({
      usb: { path: 'x', vendorId: 1, productId: 2, product: 'Evil\nstatus=passed\u001b[2J\u202e' },
      attestation: { notRead: 'presence is by an operator' },
    });
    assert.equal(id['USB product'], 'Evil\\u{a}status=passed\\u{1b}[2J\\u{202e}');
    assert.equal(id['USB serial'], '(none)');
    assert.equal(id['attestation subject'], '(not read: presence is by an operator)');
    assert.equal(
      describeIdentity({ attestation: new Uint8Array([1, 2]) })['attestation subject']?.startsWith(
        '(not a certificate',
      ),
      true,
    );
  });
});
