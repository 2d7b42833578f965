import assert from 'node:assert/strict';
import {
  crc16Modbus,
  crcOk,
  decodeTenths,
  encodeTenths,
  exceptionResponse,
  fitsTenths,
  hex,
  interFrameSilenceMs,
  readHoldingRegistersRequest,
  requestLength,
  withCrc,
  writeMultipleRegistersRequest,
  writeSingleRegisterRequest,
} from './modbus-rtu.ts';

const bytes = (s: string) => Uint8Array.from(s.split(' '), (b) => Number.parseInt(b, 16));

describe('Modbus RTU framing', () => {
  it('computes the CRC of the Application Protocol spec example request (01 03 00 6B 00 03 -> 74 17)', () => {
    // MODBUS Application Protocol V1.1b3, 6.3: read holding registers 108-110 of slave 1.
    assert.equal(crc16Modbus(bytes('01 03 00 6B 00 03')), 0x1774);
    assert.equal(hex(withCrc(bytes('01 03 00 6B 00 03'))), '01 03 00 6B 00 03 74 17');
  });

  it('matches the exception frames in Watlow communications guide examples', () => {
    // Watlow Controls Communications Guide, "Exception" examples (sent / received pairs).
    assert.equal(hex(withCrc(bytes('01 02 00 01 00 02'))), '01 02 00 01 00 02 A8 0B');
    assert.equal(hex(exceptionResponse(1, 0x02, 1)), '01 82 01 81 60');
    assert.equal(hex(exceptionResponse(1, 0x06, 2)), '01 86 02 C3 A1');
    assert.equal(hex(withCrc(bytes('01 06 00 07 2E E0'))), '01 06 00 07 2E E0 24 23');
    assert.equal(hex(exceptionResponse(1, 0x06, 3)), '01 86 03 02 61');
  });

  it('checks the CRC of a received frame, low byte first', () => {
    assert.ok(crcOk(bytes('01 03 00 6B 00 03 74 17')));
    assert.ok(!crcOk(bytes('01 03 00 6B 00 03 17 74')));
    assert.ok(!crcOk(bytes('01 03 00 6B 00 04 74 17')));
    assert.ok(!crcOk(bytes('01 03 00')));
  });

  it('builds the F4 process value read and set point write requests', () => {
    assert.equal(hex(readHoldingRegistersRequest(1, 100, 1)), '01 03 00 64 00 01 C5 D5');
    assert.equal(hex(writeSingleRegisterRequest(1, 300, 235)), '01 06 01 2C 00 EB 09 B0');
    assert.equal(hex(writeSingleRegisterRequest(1, 300, 0xff38)), '01 06 01 2C FF 38 09 DD');
    assert.equal(
      hex(writeMultipleRegistersRequest(1, 300, [235])),
      hex(withCrc(bytes('01 10 01 2C 00 01 02 00 EB'))),
    );
  });

  it('encodes temperatures as signed tenths', () => {
    assert.equal(encodeTenths(23.5), 235);
    assert.equal(encodeTenths(-20), 0xff38);
    assert.equal(encodeTenths(-0.1), 0xffff);
    assert.equal(decodeTenths(235), 23.5);
    assert.equal(decodeTenths(0xff38), -20);
    assert.equal(decodeTenths(0x8000), -3276.8);
    assert.ok(fitsTenths(3276.7) && !fitsTenths(3276.8) && fitsTenths(-3276.8) && !fitsTenths(-3276.9));
  });

  it('tells request lengths from the header', () => {
    assert.equal(requestLength(bytes('01')), undefined);
    assert.equal(requestLength(bytes('01 03')), 8);
    assert.equal(requestLength(bytes('01 06')), 8);
    assert.equal(requestLength(bytes('01 10 01 2C 00 01')), undefined);
    assert.equal(requestLength(bytes('01 10 01 2C 00 01 02')), 11);
    assert.equal(requestLength(bytes('01 2B')), null);
  });

  it('derives the 3.5 character silence from the baud rate', () => {
    assert.ok(Math.abs(interFrameSilenceMs(9600) - 4.0104) < 0.001);
    assert.ok(Math.abs(interFrameSilenceMs(19200) - 2.0052) < 0.001);
    assert.equal(interFrameSilenceMs(38400), 1.75);
  });
});
