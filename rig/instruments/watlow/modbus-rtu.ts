/**
 * Modbus RTU framing shared by the Watlow F4 simulator and the tests. Facts from the MODBUS
 * over Serial Line Specification and Implementation Guide V1.02 (RTU framing, CRC, the 3.5
 * character silence) and the MODBUS Application Protocol Specification V1.1b3 (function codes
 * 03/06/16, exception responses); both are free from modbus.org.
 */

export const FC_READ_HOLDING_REGISTERS = 0x03;
export const FC_WRITE_SINGLE_REGISTER = 0x06;
export const FC_WRITE_MULTIPLE_REGISTERS = 0x10;

export const EXCEPTION_ILLEGAL_FUNCTION = 0x01;
export const EXCEPTION_ILLEGAL_DATA_ADDRESS = 0x02;
export const EXCEPTION_ILLEGAL_DATA_VALUE = 0x03;

/** Exception code names as the Application Protocol spec words them (section 7). */
export const EXCEPTION_NAMES: Readonly<Record<number, string>> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

/** Largest quantities the spec allows in one request (125 registers read, 123 written). */
export const MAX_READ_QUANTITY = 125;
export const MAX_WRITE_QUANTITY = 123;

/** CRC-16/MODBUS: reflected polynomial 0xA001, initial value 0xFFFF, no final XOR. */
export function crc16Modbus(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
    }
  }
  return crc;
}

/** The frame with its CRC appended, low byte first (the one field Modbus sends little-endian). */
export function withCrc(body: Uint8Array | readonly number[]): Uint8Array {
  const frame = new Uint8Array(body.length + 2);
  frame.set(body);
  const crc = crc16Modbus(frame.subarray(0, body.length));
  frame[body.length] = crc & 0xff;
  frame[body.length + 1] = crc >>> 8;
  return frame;
}

/** True when the last two bytes are the CRC of the rest. */
export function crcOk(frame: Uint8Array): boolean {
  if (frame.length < 4) return false;
  const crc = crc16Modbus(frame.subarray(0, frame.length - 2));
  return frame[frame.length - 2] === (crc & 0xff) && frame[frame.length - 1] === crc >>> 8;
}

export function readHoldingRegistersRequest(slave: number, address: number, quantity: number): Uint8Array {
  return withCrc([slave, FC_READ_HOLDING_REGISTERS, ...u16(address), ...u16(quantity)]);
}

export function writeSingleRegisterRequest(slave: number, address: number, value: number): Uint8Array {
  return withCrc([slave, FC_WRITE_SINGLE_REGISTER, ...u16(address), ...u16(value)]);
}

export function writeMultipleRegistersRequest(
  slave: number,
  address: number,
  values: readonly number[],
): Uint8Array {
  return withCrc([
    slave,
    FC_WRITE_MULTIPLE_REGISTERS,
    ...u16(address),
    ...u16(values.length),
    values.length * 2,
    ...values.flatMap(u16),
  ]);
}

export function exceptionResponse(slave: number, functionCode: number, exceptionCode: number): Uint8Array {
  return withCrc([slave, 0x80 | functionCode, exceptionCode]);
}

/**
 * Length of a request frame (CRC included) judged from the bytes received so far, so a slave
 * can cut frames without relying on line timing: undefined while too few bytes have arrived to
 * tell, null for a function code whose length this slave does not know (it then waits for the
 * silence that ends every RTU frame).
 */
export function requestLength(buffer: Uint8Array): number | null | undefined {
  if (buffer.length < 2) return undefined;
  switch (buffer[1]) {
    case FC_READ_HOLDING_REGISTERS:
    case FC_WRITE_SINGLE_REGISTER:
      return 8;
    case FC_WRITE_MULTIPLE_REGISTERS:
      // slave, fc, address(2), quantity(2), byte count(1), data(byte count), CRC(2)
      return buffer.length < 7 ? undefined : 9 + buffer[6]!;
    default:
      return null;
  }
}

/**
 * The 3.5 character inter-frame silence in milliseconds. An RTU character is 11 bits (start,
 * 8 data, parity or a second stop bit, stop); above 19200 baud the spec fixes it at 1.750 ms.
 */
export function interFrameSilenceMs(baudRate: number): number {
  return baudRate > 19200 ? 1.75 : (3.5 * 11 * 1000) / baudRate;
}

/** F4 register encoding: signed 16-bit with one implied decimal (235 = 23.5). */
export function encodeTenths(celsius: number): number {
  return Math.round(celsius * 10) & 0xffff;
}

export function decodeTenths(raw: number): number {
  const signed = raw & 0x8000 ? (raw & 0xffff) - 0x10000 : raw & 0xffff;
  return signed / 10;
}

/** True when a temperature fits the encoding (-3276.8 .. 3276.7). */
export function fitsTenths(celsius: number): boolean {
  const tenths = Math.round(celsius * 10);
  return tenths >= -0x8000 && tenths <= 0x7fff;
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0').toUpperCase()).join(' ');
}

function u16(value: number): [number, number] {
  return [(value >>> 8) & 0xff, value & 0xff];
}
