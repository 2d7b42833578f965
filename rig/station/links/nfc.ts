import { hex } from '../../bytes.ts';
import type { EmulatedChip } from '../../emulator/emulated-chip.ts';
import { ConfigError } from '../../errors.ts';
import type { TrafficLog } from '../../traffic.ts';
import { type CardConnection, isMovableCard } from '../../transport/nfc/connection.ts';
import { openPcscCard } from '../../transport/nfc/nfc-pcsc.ts';
import { NfcTransport } from '../../transport/nfc/nfc-transport.ts';
import type { TransportKind } from '../../transport/transport.ts';
import type { DeviceSpec } from '../device-spec.ts';
import { serveCardToVpcd, vpcdAddress } from '../emulated.ts';
import type { StationFile } from '../station-file.ts';
import type { Link, LinkContext, LinkKind } from './registry.ts';

export interface CardLink {
  connection: CardConnection;
  /** A fresh connection to the same card (after a link fault), keeping what serves it. */
  reopen: () => Promise<CardConnection>;
  /** Stops serving the emulated card (vpcd path). */
  stop?: () => Promise<void>;
}

/**
 * NFC: ISO 7816-4 over a card connection, through nfc-pcsc (a reader, or vpcd serving the
 * emulated chip) or the emulated chip's in-process card. The emulated card is also where
 * the "chip on one link" rule acts: it leaves the field while the chip is used over another
 * link, and is tapped again when it comes back.
 */
export class NfcLink implements Link {
  readonly kind = 'nfc';
  #transport: NfcTransport | undefined;
  #card: CardLink | undefined;
  /** Which link the emulated chip was last used over (NFC: on the reader). */
  #chipOn: TransportKind | undefined;

  constructor(private readonly ctx: LinkContext) {}

  get current(): NfcTransport | undefined {
    return this.#transport;
  }

  get isOpen(): boolean {
    return this.#transport !== undefined;
  }

  /** The NFC transport, opened on first use. */
  async open(): Promise<NfcTransport> {
    if (!this.#transport) {
      if (this.#card) this.#card.connection = await this.#card.reopen();
      else this.#card = await this.#openCard();
      const { file } = this.ctx;
      this.#transport = new NfcTransport(this.#card.connection, {
        apdu: file.nfc.apdu,
        chunkSize: file.nfc.chunkSize,
        getResponseLe: file.nfc.getResponseLe,
        timeoutMs: file.timeouts.exchangeMs,
        log: this.ctx.traffic,
      });
      this.#chipOn = 'nfc';
    }
    return this.#transport;
  }

  /** The card connection behind the transport (the emulated one can leave the field). */
  async card(): Promise<CardConnection> {
    await this.open();
    return this.#card!.connection;
  }

  /** The card link, as recorded or replayed where the run is. */
  async #openCard(): Promise<CardLink> {
    const { replay, record, spec, file, emulator, traffic } = this.ctx;
    if (replay) return { connection: await replay.openCard(), reopen: () => replay.openCard() };
    const open = () => openCardConnection(spec, file, emulator, traffic);
    if (!record) return open();
    let link: CardLink | undefined;
    const connection = await record.openCard(() =>
      open().then((l) => {
        link = l;
        return l.connection;
      }),
    );
    return { ...link!, connection, reopen: () => record.openCard(link!.reopen) };
  }

  /**
   * The emulated chip is on one link at a time, as a person holds it: on the USB cable or
   * on the reader. Moving it to USB takes the in-process card out of the field (so HID
   * presses do not block NFC, the MitID rule); moving it back taps it, and the transport
   * SELECTs again. Real devices and the vpcd path are left alone.
   */
  async chipGoesTo(to: TransportKind): Promise<void> {
    // Until the transport is open (again) there is no card in the field to move: opening
    // puts it there.
    if (this.#chipOn === to || !this.ctx.emulated || !this.#transport) return;
    const card = this.#card?.connection;
    if (!isMovableCard(card)) return;
    this.#chipOn = to;
    if (to !== 'nfc') {
      // On the cable, or held away from the reader for Bluetooth.
      card.remove();
    } else {
      this.ctx.note('emulated chip moved from the USB cable to the reader');
      card.tap();
      await this.#transport?.powerCycle();
    }
  }

  /** NFC field off and on (PC/SC: reconnect with unpower; emulated: the card loses power). */
  async fieldCycle(): Promise<void> {
    this.ctx.note('NFC field off and on');
    await (await this.open()).powerCycle();
  }

  /** A card out of the field is unpowered anyway; one on the reader loses power now. */
  async powerRestored(): Promise<void> {
    if (this.#transport && this.#chipOn !== 'hid') await this.#transport.powerCycle();
  }

  /** For a reset: closes the transport and the card connection, keeps what serves the card (vpcd). */
  async drop(): Promise<void> {
    const nfc = this.#transport;
    this.#transport = undefined;
    this.#chipOn = undefined;
    await nfc?.close().catch(() => undefined);
    await this.#card?.connection.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    const card = this.#card;
    await this.drop();
    this.#card = undefined;
    await card?.stop?.().catch(() => undefined);
  }

  facts(): Record<string, string> {
    if (!this.#card) return {};
    return { 'NFC reader': this.#card.connection.reader, 'card ATR': hex(this.#card.connection.atr) };
  }
}

export async function openCardConnection(
  spec: DeviceSpec,
  file: StationFile,
  emulator: EmulatedChip | undefined,
  log: TrafficLog,
): Promise<CardLink> {
  const timeouts = { transmitTimeoutMs: file.timeouts.exchangeMs };
  if (spec.kind === 'emulator') {
    const nfc = file.emulator?.nfc ?? { path: 'in-process' as const };
    if (nfc.path === 'in-process') {
      return { connection: emulator!.cardConnection(), reopen: async () => emulator!.cardConnection() };
    }
    // The same card, served to pcscd through vpcd, reached through nfc-pcsc like a real reader.
    const server = await serveCardToVpcd(emulator!, vpcdAddress(nfc.vpcd, 'emulator.nfc.vpcd'), { log });
    const open = () => openPcscCard(nfc.reader ?? 'Virtual PCD 00 00', { ...timeouts, log });
    try {
      return { connection: await open(), reopen: open, stop: () => server.close() };
    } catch (error) {
      await server.close();
      throw error;
    }
  }
  if (spec.kind === 'pcsc') {
    const open = () => openPcscCard(spec.reader, { ...timeouts, log });
    return { connection: await open(), reopen: open };
  }
  throw new ConfigError(`device ${spec.text} has no NFC interface`);
}

export const NFC_LINK: LinkKind = {
  kind: 'nfc',
  name: 'NFC',
  letter: 'N',
  serves: (spec) => spec.kind === 'pcsc',
  // The tap is the presence: pressing the button there would block NFC (the MitID rule).
  presenceIsTap: true,
  create: (ctx) => new NfcLink(ctx),
};
