/**
 * The shapes of nfc-pcsc's Reader and the pcsclite CardReader under it (neither ships
 * types). Only the members chiprig uses.
 */
/** The pcsclite CardReader under an nfc-pcsc Reader (`reader.reader`); names as in the binding. */
export interface PcscliteReader {
  readonly SCARD_STATE_PRESENT: number;
  readonly SCARD_SHARE_SHARED: number;
  readonly SCARD_LEAVE_CARD: number;
  readonly SCARD_UNPOWER_CARD: number;
  readonly connected?: boolean;
  on(event: 'status', listener: (status: { state: number; atr?: Buffer }) => void): void;
  transmit(
    data: Buffer,
    resLen: number,
    protocol: number,
    cb: (err: Error | null, data?: Buffer) => void,
  ): void;
  disconnect(disposition: number, cb: (err?: Error | null) => void): void;
  connect(
    options: { share_mode: number; protocol?: number },
    cb: (err?: Error | null, protocol?: number) => void,
  ): void;
}

/** The nfc-pcsc Reader surface used here (it ships no types). */
export interface PcscReader {
  readonly name: string;
  readonly reader: PcscliteReader;
  autoProcessing: boolean;
  card: { atr?: Buffer } | null;
  connection: { type: number; protocol: number } | null;
  /** nfc-pcsc's connect to the card it saw (SCARD_SHARE_SHARED); it calls this itself. */
  connect(): Promise<unknown>;
  on(event: 'card' | 'card.off' | 'end', listener: () => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  close(): void;
}
