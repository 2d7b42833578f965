import { ChiprigError } from '../../errors.ts';
import { bleErrName } from './fragments.ts';

/**
 * A FIDO BLE ERROR (0xBF) frame (catalogue §1.4). Like CtapHidError it is a rig-side error,
 * not an assertion: the suite that sent the request decides whether the code conforms
 * (BLE-FRAG-01..04 expect specific codes). Unknown codes are kept as they arrived.
 */
export class BleError extends ChiprigError {
  readonly errorCode: number;
  constructor(errorCode: number, message?: string) {
    super('BLE_ERROR', message ?? `device answered FIDO BLE ERROR ${bleErrName(errorCode)}`);
    this.errorCode = errorCode;
  }
}
