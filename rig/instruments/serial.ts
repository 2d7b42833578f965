import { SerialPort } from 'serialport';
import { InstrumentError } from '../errors.ts';

/**
 * Opens a serial port, or rejects with InstrumentError('UNAVAILABLE') saying which
 * instrument could not be reached and `advice` on what to check.
 */
export async function openSerialPort(
  path: string,
  baudRate: number,
  what: string,
  advice = '',
): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) =>
    port.open((error) =>
      error
        ? reject(
            new InstrumentError(
              'UNAVAILABLE',
              `cannot open ${what} at ${path}: ${error.message}${advice ? `; ${advice}` : ''}`,
              {
                cause: error,
              },
            ),
          )
        : resolve(),
    ),
  );
  return port;
}
