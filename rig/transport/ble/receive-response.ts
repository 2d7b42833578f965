import { deviceFault, TransportError } from '../../errors.ts';
import type { TrafficLog } from '../../traffic.ts';
import { BleError } from './ble-error.ts';
import { BLE_CMD, bleCmdName, bleErrName, FrameAssembler, parseFrame } from './fragments.ts';
import type { NotificationQueue } from './notification-queue.ts';

/** One KEEPALIVE seen during an exchange; `atMs` counts from the request's last fragment. */
export interface KeepaliveRecord {
  readonly code: number;
  readonly atMs: number;
}

export interface ReceiveOptions {
  controlPointLength: number;
  /** Deadline; each KEEPALIVE restarts it (BLE-KA-01). */
  timeoutMs: number;
  signal: AbortSignal | undefined;
  log: TrafficLog | undefined;
  /** KEEPALIVEs seen are appended here (BLE-KA-01 cadence). */
  keepalives: KeepaliveRecord[];
  /** Told of each KEEPALIVE as it arrives (the caller may give presence on TUP_NEEDED). */
  onKeepalive?: ((code: number) => void) | undefined;
  /** Set to when each notification was taken (the last one: the answer's last fragment). */
  received?: { at: number };
}

const now = () => performance.now();

/**
 * Reads fidoStatus notifications until one whole response to `cmd` is assembled, checking
 * what BLE-FRAG-06 requires of a device: initial fragment first, SEQ 0, 1, 2…, no fragment
 * longer than cpl, data matching HLEN/LLEN, no KEEPALIVE between fragments. A rule break
 * rejects deviceFault; an ERROR frame BleError; silence TransportError TIMEOUT.
 */
export async function receiveResponse(
  queue: NotificationQueue,
  cmd: number,
  { controlPointLength, timeoutMs, signal, log, keepalives, onKeepalive, received }: ReceiveOptions,
): Promise<Uint8Array> {
  const assembler = new FrameAssembler();
  const sentAt = now();
  let deadline = sentAt + timeoutMs;
  for (;;) {
    const raw = await queue.next(deadline - now(), signal);
    if (received) received.at = now();
    if (raw === undefined) {
      throw new TransportError('TIMEOUT', `FIDO BLE ${bleCmdName(cmd)}: no response within ${timeoutMs} ms`);
    }
    log?.record('recv', 'ble', raw);
    if (raw.length > controlPointLength) {
      throw deviceFault(`notification of ${raw.length} bytes exceeds fidoControlPointLength (BLE-FRAG-06)`, {
        actual: raw.length,
        expected: `<= ${controlPointLength}`,
      });
    }
    const frame = parseFrame(raw);
    if (frame.kind === 'malformed') throw deviceFault(`malformed notification of ${raw.length} bytes`);
    if (frame.kind === 'cont') {
      const status = assembler.add(frame);
      if (status === 'complete') return assembler.take();
      if (status === 'more') continue;
      throw deviceFault(`response continuation: ${status} (BLE-FRAG-06)`, {
        actual: frame.seq,
        expected: status === 'bad-seq' ? 'the next SEQ' : 'a continuation inside an open frame',
      });
    }
    if (assembler.open) {
      throw deviceFault(
        `${bleCmdName(frame.cmd)} inside a fragmented ${bleCmdName(cmd)} response (BLE-FRAG-06)`,
      );
    }
    if (frame.cmd === BLE_CMD.KEEPALIVE) {
      keepalives.push({ code: frame.data[0] ?? -1, atMs: now() - sentAt });
      onKeepalive?.(frame.data[0] ?? -1);
      deadline = Math.max(deadline, now() + timeoutMs); // the device is still working
      continue;
    }
    if (frame.cmd === BLE_CMD.ERROR) {
      if (frame.length !== 1 || frame.data.length !== 1) {
        throw deviceFault('ERROR payload must be exactly 1 byte (BLE-CMD-01)', {
          actual: frame.length,
          expected: 1,
        });
      }
      throw new BleError(
        frame.data[0]!,
        `device answered ${bleCmdName(cmd)} with ${bleErrName(frame.data[0]!)}`,
      );
    }
    if (frame.cmd !== cmd) {
      throw deviceFault(`response command ${bleCmdName(frame.cmd)} to ${bleCmdName(cmd)}`, {
        actual: frame.cmd,
        expected: cmd,
      });
    }
    const status = assembler.start(frame);
    if (status === 'complete') return assembler.take();
    if (status !== 'more') throw deviceFault(`response initial fragment: ${status} (BLE-FRAG-06)`);
  }
}
