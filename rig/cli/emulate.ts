import type { EmulatedChip } from '../emulator/emulated-chip.ts';
import { parseFault } from '../emulator/faults.ts';
import { ConfigError } from '../errors.ts';
import {
  makeEmulator,
  serveBleOnHciPty,
  serveCardToVpcd,
  serveHidOnFifos,
  vpcdAddress,
} from '../station/emulated.ts';
import { loadStationFile } from '../station/station-file.ts';
import { EXIT } from './exit-codes.ts';

export interface EmulateOptions {
  transport: string;
  vpcd?: string;
  hciPty?: string;
  fifo?: string;
  station?: string;
  fault?: string;
}

/**
 * `chiprig emulate --transport nfc [--vpcd HOST:PORT]`: serves the emulated MitID chip as
 * a contactless card to pcscd's vpcd driver until stopped (SIGINT/SIGTERM), so any PC/SC
 * tool (chiprig itself, python-fido2, a vendor's suite) can test it through a real stack.
 */
export async function emulate(opts: EmulateOptions): Promise<number> {
  if (opts.transport !== 'nfc' && opts.transport !== 'ble' && opts.transport !== 'hid') {
    throw new ConfigError(`--transport: "${opts.transport}" cannot be served (available: hid, nfc, ble)`);
  }
  if (opts.transport === 'hid' && !opts.fifo) {
    throw new ConfigError(
      '--fifo: required with --transport hid (the path prefix of the two FIFOs, e.g. /tmp/u2f- for /tmp/u2f-in and /tmp/u2f-out)',
    );
  }
  const file = loadStationFile(opts.station);
  const fault = opts.fault ? parseFault(opts.fault, '--fault') : undefined;
  const chip = makeEmulator(file, fault);
  if (opts.transport === 'ble') return emulateBle(chip, opts);
  if (opts.transport === 'hid') return emulateFifo(chip, opts.fifo!, fault);
  const { host, port } = vpcdAddress(opts.vpcd, '--vpcd');
  let server: Awaited<ReturnType<typeof serveCardToVpcd>>;
  try {
    server = await serveCardToVpcd(
      chip,
      { host, port },
      {
        // pcscd polls the ATR every ~400 ms; only field and link events are worth a line.
        onEvent: (e) => {
          if (e !== 'get-atr' && e !== 'apdu') process.stderr.write(`emulate: ${e}\n`);
        },
      },
    );
  } catch (error) {
    process.stderr.write(`chiprig emulate: ${error instanceof Error ? error.message : error}\n`);
    return EXIT.BROKEN;
  }
  process.stdout.write(
    `serving the emulated MitID chip${fault ? ` with fault ${fault}` : ''} as a card to vpcd at ${host}:${port}` +
      ` (reader "Virtual PCD 00 ${port === 35964 ? '01' : '00'}"); stop with Ctrl-C\n`,
  );
  const stopped = await new Promise<'signal' | 'closed'>((resolve) => {
    const onSignal = () => resolve('signal');
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    server.closed.then(() => resolve('closed'));
  });
  await server.close().catch(() => undefined);
  if (stopped === 'closed') {
    process.stderr.write(`chiprig emulate: vpcd at ${host}:${port} closed the connection (pcscd stopped?)\n`);
    return EXIT.BROKEN;
  }
  process.stdout.write('stopped\n');
  return EXIT.PASSED;
}

/**
 * `chiprig emulate --transport ble --hci-pty PATH`: the emulated chip behind an emulated
 * HCI controller on a pty, for any host that speaks HCI over a UART (noble, BlueZ's
 * btattach, a vendor tool). The chip's button is pressed by the host side; a press can
 * also be given by sending SIGUSR1 to this process.
 */
async function emulateBle(chip: EmulatedChip, opts: EmulateOptions): Promise<number> {
  if (!opts.hciPty)
    throw new ConfigError('--hci-pty: required with --transport ble (where to create the pty)');
  let pty: Awaited<ReturnType<typeof serveBleOnHciPty>>;
  try {
    pty = await serveBleOnHciPty(chip, opts.hciPty);
  } catch (error) {
    process.stderr.write(`chiprig emulate: ${error instanceof Error ? error.message : error}\n`);
    return EXIT.BROKEN;
  }
  const press = () => chip.pressButton();
  process.on('SIGUSR1', press);
  process.stdout.write(
    `serving the emulated MitID chip as an HCI-over-UART controller on ${pty.path}; press the button with kill -USR1 ${process.pid}; stop with Ctrl-C\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  process.off('SIGUSR1', press);
  await pty.stop().catch(() => undefined);
  process.stdout.write('stopped\n');
  return EXIT.PASSED;
}

/**
 * `chiprig emulate --transport hid --fifo PATH`: the emulated chip's USB HID interface
 * behind two FIFOs, PATHin (host to device) and PATHout, in the protocol of the device shim
 * of google/u2f-ref-code's HID tests (dev.cc). Serves until stopped or until the host sends
 * "reset and quit" (cmd 2, mode 3). INTERRUPT 199 (cmd 6) presses the button; so does SIGUSR1.
 */
async function emulateFifo(chip: EmulatedChip, path: string, fault: string | undefined): Promise<number> {
  let server: Awaited<ReturnType<typeof serveHidOnFifos>>;
  try {
    server = await serveHidOnFifos(chip, path, (text) => process.stderr.write(`emulate: ${text}\n`));
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    process.stderr.write(`chiprig emulate: ${error instanceof Error ? error.message : error}\n`);
    return EXIT.BROKEN;
  }
  const press = () => chip.pressButton();
  process.on('SIGUSR1', press);
  process.stdout.write(
    `serving the emulated MitID chip${fault ? ` with fault ${fault}` : ''} as a HID device on FIFOs ${server.paths.toDevice} (host writes) and ${server.paths.fromDevice} (host reads); device spec fifo:${path}; stop with Ctrl-C\n`,
  );
  const ended = await new Promise<'signal' | 'quit' | 'closed'>((resolve) => {
    const onSignal = () => resolve('signal');
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    server.closed.then(resolve);
  });
  process.off('SIGUSR1', press);
  await server.close().catch(() => undefined);
  if (ended === 'closed') {
    process.stderr.write(`chiprig emulate: the FIFOs at ${path} failed; serving ended\n`);
    return EXIT.BROKEN;
  }
  process.stdout.write(ended === 'quit' ? 'the host asked to reset and quit; stopped\n' : 'stopped\n');
  return EXIT.PASSED;
}
