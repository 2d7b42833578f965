/**
 * The Watlow Series F4 registers this driver uses (holding registers, addressed as sent on the
 * wire, i.e. zero-based PDU addresses). Where the facts come from, since Watlow's own F4 manual
 * was not at hand; each fact appears in at least two independent public sources:
 *
 * - EspecNorthAmerica/ChamberConnectLibrary, chamberconnectlibrary/watlowf4.py: loop 1 process
 *   value at 100 and static set point at 300, both read and written as signed 16-bit values;
 *   set point low/high limits at 602/603; the input 1 decimal-point setting at 606 scales them;
 *   temperature units at 901 (non-zero = Celsius).
 * - anwar-lab-ucb/watlow_f4, src/watlow_f4/watlow_f4.py: 100 = measured temperature and
 *   300 = set point, signed, value / 10 = degrees; slave address 1 is the F4 default.
 * - Pascal Stang's public watlowf4 Python module: 100 and 300 in signed "deci-degrees".
 * - Two other public Python F4 drivers (one on pymodbus, one on a custom Modbus layer): default
 *   19200 baud, address 1, and both refuse to run unless register 606 (input 1 decimal) reads 1.
 * - TestEquity F4T manual, chapter 4, "Data Map 2, F4 Compatibility Mode": "Write Temperature
 *   Set Point W 300", "Read Chamber Temperature R? 100, 1".
 *
 * Line settings: the public drivers disagree (19200 in two, 9600 in two, one uses 2 stop bits);
 * they are front-panel settings, so the driver's options must match the controller.
 */
export const WATLOW_F4 = {
  /** Default slave address. */
  SLAVE_ID: 1,
  /** Default baud rate, 8 data bits, no parity, 1 stop bit. */
  BAUD_RATE: 19200,
  /** Input 1 process value (chamber temperature), tenths of a degree, signed, read-only. */
  PROCESS_VALUE: 100,
  /** Static set point, loop 1, tenths of a degree, signed, read/write. */
  SET_POINT: 300,
  /** Set point low limit for input 1, same encoding. */
  SET_POINT_LOW_LIMIT: 602,
  /** Set point high limit for input 1, same encoding. */
  SET_POINT_HIGH_LIMIT: 603,
  /** Input 1 decimal places; 1 gives the tenths encoding this driver assumes. */
  DECIMAL_PLACES: 606,
  /** Temperature units: 0 = Fahrenheit, 1 = Celsius. */
  UNITS: 901,
} as const;
