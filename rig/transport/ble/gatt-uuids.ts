/**
 * The GATT UUIDs of a FIDO authenticator (FIDO BLE §8.1: the FIDO service and its
 * characteristics; Device Information and Battery), as both sides use them: BleTransport
 * and the emulated peripheral. UUIDs are lowercase hex without dashes, as noble writes them.
 */

/** Normalises a UUID to noble's form: lowercase hex, no dashes. */
export function uuidKey(uuid: string): string {
  return uuid.replace(/-/g, '').toLowerCase();
}

export const UUID = {
  FIDO_SERVICE: 'fffd',
  CONTROL_POINT: uuidKey('F1D0FFF1-DEAA-ECEE-B42F-C9BA7ED623BB'),
  STATUS: uuidKey('F1D0FFF2-DEAA-ECEE-B42F-C9BA7ED623BB'),
  CONTROL_POINT_LENGTH: uuidKey('F1D0FFF3-DEAA-ECEE-B42F-C9BA7ED623BB'),
  SERVICE_REVISION_BITFIELD: uuidKey('F1D0FFF4-DEAA-ECEE-B42F-C9BA7ED623BB'),
  SERVICE_REVISION: '2a28',
  DEVICE_INFORMATION: '180a',
  MANUFACTURER_NAME: '2a29',
  MODEL_NUMBER: '2a24',
  SERIAL_NUMBER: '2a25',
  FIRMWARE_REVISION: '2a26',
  HARDWARE_REVISION: '2a27',
  BATTERY_SERVICE: '180f',
  BATTERY_LEVEL: '2a19',
} as const;
