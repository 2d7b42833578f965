/**
 * An emulated LE controller speaking H4 (Core Vol 4 Part A) over a byte stream, so a host
 * stack (noble's own HCI/GAP/ATT/GATT code through its UART driver) can scan, connect to
 * and use a VirtualPeripheral. It answers the HCI commands noble sends (Vol 4 Part E 7),
 * reports the peripheral's advertising while scanning, and serves its GATT database over
 * L2CAP (Vol 3 Part A) CID 4 (ATT, hci-att-server.ts). One link at a time.
 *
 * What noble needs beyond the spec's letter (emulation.md, BLE Path B): Reset answered with
 * exactly 04 0e 04 01 03 0c 00, HCI version >= 6, a Number Of Completed Packets after every
 * host ACL packet, and a connectable device reported twice (ADV_IND then SCAN_RSP) before
 * its GAP layer emits 'discover'.
 */
import type { Duplex } from 'node:stream';
import type { TrafficLog } from '../../traffic.ts';
import { HciLink } from './hci-link.ts';
import {
  ADV_TYPE,
  addressBytes,
  advertisingPayloads,
  commandComplete,
  commandStatus,
  disconnectionComplete,
  H4Reassembler,
  HCI_STATUS,
  type HostPacket,
  leAdvertisingReport,
  leConnectionComplete,
  leConnectionFailed,
  leConnectionUpdateComplete,
  numberOfCompletedPackets,
  OP,
} from './hci-packets.ts';
import type { VirtualPeripheral } from './peripheral.ts';

export interface HciControllerOptions {
  /** The controller's own BD_ADDR (Read BD_ADDR); default 'c0:ff:ee:00:00:01'. */
  address?: string;
  /** RSSI in advertising reports and Read RSSI, dBm; default -40. */
  rssi?: number;
  /** Advertising report period while the host scans with duplicates allowed; default 100 ms. */
  advIntervalMs?: number;
  /** Records H4 traffic as layer 'hci' (host to controller = send, controller to host = recv). */
  log?: TrafficLog;
  /** Link events ('reset', 'scan-on', 'connected', 'disconnected:<reason>', 'closed'), for tests. */
  onEvent?: (event: string) => void;
}

/** First handle; Connection_Handle is 12 bits (Vol 4 Part E 5.4.2). */
const LINK_HANDLE = 0x0040;
/** What we tell the host in LE Read Buffer Size: the LE maximum ACL payload and 8 buffers. */
const ACL_LENGTH = 251;
const ACL_BUFFERS = 8;
const DEFAULT_ADDRESS = 'c0:ff:ee:00:00:01';
/** Command Disallowed (Vol 1 Part F 2.13). */
const COMMAND_DISALLOWED = 0x0c;

export class HciController {
  readonly #peripheral: VirtualPeripheral;
  readonly #stream: Duplex;
  readonly #opts: HciControllerOptions;
  readonly #reassembler = new H4Reassembler();
  #link: HciLink | undefined;
  #pendingConnect = false;
  #scanning = false;
  #advTimer: NodeJS.Timeout | undefined;
  #leHostSupported = [0, 0];
  #isClosed = false;
  readonly closed: Promise<void>;

  constructor(peripheral: VirtualPeripheral, stream: Duplex, opts: HciControllerOptions = {}) {
    addressBytes(peripheral.address); // checks the peripheral's address early
    addressBytes(opts.address ?? DEFAULT_ADDRESS);
    this.#peripheral = peripheral;
    this.#stream = stream;
    this.#opts = opts;
    stream.on('data', (chunk: Buffer) => this.#receive(chunk));
    this.closed = new Promise((resolve) => {
      stream.once('close', () => {
        this.#shutdown();
        resolve();
      });
    });
    stream.on('error', () => this.#shutdown());
  }

  /** Drops the link (the peripheral hears 'controller closed') and closes the stream. */
  async close(): Promise<void> {
    this.#shutdown();
    this.#stream.destroy();
    await this.closed;
  }

  #shutdown(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#stopScan();
    this.#dropLink('controller closed');
    this.#opts.onEvent?.('closed');
  }

  #send(packet: Uint8Array): void {
    if (this.#isClosed || this.#stream.destroyed) return;
    this.#opts.log?.record('recv', 'hci', packet);
    this.#stream.write(packet);
  }

  #receive(chunk: Uint8Array): void {
    // Everything one chunk provokes (e.g. Number Of Completed Packets, a notification and the
    // Write Response) leaves in one write: fewer hops through socat and the pty.
    this.#stream.cork();
    try {
      for (const packet of this.#reassembler.push(chunk)) {
        this.#opts.log?.record(
          'send',
          'hci',
          packet.kind === 'command' ? packet.params : packet.data,
          packet.kind,
        );
        if (packet.kind === 'command') this.#command(packet.opcode, packet.params);
        else this.#acl(packet);
      }
    } finally {
      this.#stream.uncork();
    }
  }

  #command(opcode: number, params: Uint8Array): void {
    switch (opcode) {
      case OP.RESET: // Vol 4 Part E 7.3.2: scanning stops, links go without events
        this.#stopScan();
        this.#pendingConnect = false;
        this.#dropLink('controller reset');
        this.#opts.onEvent?.('reset');
        break;
      case OP.WRITE_LE_HOST_SUPPORTED: // 7.3.79
        this.#leHostSupported = [params[0] ?? 0, params[1] ?? 0];
        break;
      case OP.LE_SET_SCAN_ENABLE: // 7.8.11
        this.#send(commandComplete(opcode, HCI_STATUS.SUCCESS));
        if (params[0] === 1) this.#startScan(params[1] === 1);
        else this.#stopScan();
        return;
      case OP.READ_RSSI: // 7.5.4
        this.#readRssi(params);
        return;
      case OP.LE_CREATE_CONNECTION: // 7.8.12
        this.#createConnection(params);
        return;
      case OP.LE_CREATE_CONNECTION_CANCEL: // 7.8.13
        this.#cancelConnection();
        return;
      case OP.LE_CONNECTION_UPDATE: // 7.8.18
        this.#connectionUpdate(params);
        return;
      case OP.DISCONNECT: // 7.1.6
        this.#disconnect(params);
        return;
    }
    this.#send(commandComplete(opcode, HCI_STATUS.SUCCESS, this.#returnParameters(opcode)));
  }

  /** Return parameters of the commands answered from controller state (Vol 4 Part E 7.3-7.8). */
  #returnParameters(opcode: number): ArrayLike<number> {
    switch (opcode) {
      case OP.READ_LOCAL_VERSION: // 7.4.1: HCI 5.0 (0x09), manufacturer 0xFFFF (none)
        return [0x09, 0x00, 0x00, 0x09, 0xff, 0xff, 0x00, 0x00];
      case OP.READ_LOCAL_SUPPORTED_COMMANDS: // 7.4.2
        return new Uint8Array(64);
      case OP.READ_BUFFER_SIZE: // 7.4.5
        return [ACL_LENGTH & 0xff, ACL_LENGTH >> 8, 0, ACL_BUFFERS, 0, 0, 0];
      case OP.READ_BD_ADDR: // 7.4.6
        return addressBytes(this.#opts.address ?? DEFAULT_ADDRESS);
      case OP.LE_READ_BUFFER_SIZE: // 7.8.2
        return [ACL_LENGTH & 0xff, ACL_LENGTH >> 8, ACL_BUFFERS];
      case OP.LE_READ_LOCAL_SUPPORTED_FEATURES: // 7.8.3: no extended advertising, no DLE
        return new Uint8Array(8);
      case OP.READ_LE_HOST_SUPPORTED: // 7.3.78
        return this.#leHostSupported;
      default:
        // Set Event Mask, LE Set Event Mask, LE Set Scan Parameters and the rest need no data.
        return [];
    }
  }

  #readRssi(params: Uint8Array): void {
    const known = this.#link?.handle === ((params[0] ?? 0) | ((params[1] ?? 0) << 8));
    const status = known ? HCI_STATUS.SUCCESS : HCI_STATUS.UNKNOWN_CONNECTION_ID;
    const rssi = (this.#opts.rssi ?? -40) & 0xff;
    this.#send(commandComplete(OP.READ_RSSI, status, [params[0] ?? 0, params[1] ?? 0, rssi]));
  }

  #startScan(filterDuplicates: boolean): void {
    this.#stopScan();
    this.#scanning = true;
    this.#opts.onEvent?.('scan-on');
    this.#advertise();
    // With duplicate filtering a controller reports each advertiser once (7.8.11).
    if (!filterDuplicates)
      this.#advTimer = setInterval(() => this.#advertise(), this.#opts.advIntervalMs ?? 100);
  }

  #stopScan(): void {
    this.#scanning = false;
    if (this.#advTimer) clearInterval(this.#advTimer);
    this.#advTimer = undefined;
  }

  /** A connected peripheral stops advertising; a connectable one answers the active scan. */
  #advertise(): void {
    if (!this.#scanning || this.#link) return;
    const ad = this.#peripheral.advertising();
    const { adv, scanRsp } = advertisingPayloads(ad);
    const address = addressBytes(this.#peripheral.address);
    const rssi = this.#opts.rssi ?? -40;
    this.#send(
      leAdvertisingReport(ad.connectable ? ADV_TYPE.ADV_IND : ADV_TYPE.ADV_NONCONN_IND, address, adv, rssi),
    );
    if (ad.connectable) this.#send(leAdvertisingReport(ADV_TYPE.SCAN_RSP, address, scanRsp, rssi));
  }

  /** Command Status now, LE Connection Complete once the peer "answers" (Vol 4 Part E 7.8.12). */
  #createConnection(params: Uint8Array): void {
    if (this.#link || this.#pendingConnect) {
      this.#send(commandStatus(OP.LE_CREATE_CONNECTION, COMMAND_DISALLOWED));
      return;
    }
    this.#send(commandStatus(OP.LE_CREATE_CONNECTION, HCI_STATUS.SUCCESS));
    const peerAddress = params.slice(6, 12);
    const wanted = addressBytes(this.#peripheral.address);
    // An address we do not emulate, or a peripheral not accepting connections, never answers:
    // the host has to cancel, as with a real radio.
    if (peerAddress.join() !== wanted.join() || !this.#peripheral.advertising().connectable) {
      this.#pendingConnect = true;
      return;
    }
    const word = (at: number) => (params[at] ?? 0) | ((params[at + 1] ?? 0) << 8);
    this.#openLink();
    this.#send(
      leConnectionComplete({
        status: HCI_STATUS.SUCCESS,
        handle: LINK_HANDLE,
        peerAddressType: params[5] ?? 0,
        peerAddress,
        interval: word(15),
        latency: word(17),
        supervisionTimeout: word(19),
      }),
    );
  }

  #cancelConnection(): void {
    this.#send(commandComplete(OP.LE_CREATE_CONNECTION_CANCEL, HCI_STATUS.SUCCESS));
    if (!this.#pendingConnect) return;
    this.#pendingConnect = false;
    // 7.8.13: the cancelled attempt ends with LE Connection Complete, Unknown Connection Identifier.
    this.#send(leConnectionFailed(HCI_STATUS.UNKNOWN_CONNECTION_ID));
  }

  #connectionUpdate(params: Uint8Array): void {
    const word = (at: number) => (params[at] ?? 0) | ((params[at + 1] ?? 0) << 8);
    const known = this.#link?.handle === word(0);
    this.#send(commandStatus(OP.LE_CONNECTION_UPDATE, known ? 0 : HCI_STATUS.UNKNOWN_CONNECTION_ID));
    if (known) this.#send(leConnectionUpdateComplete(word(0), word(4), word(6), word(8)));
  }

  /** Vol 4 Part E 7.1.6: Command Status, then Disconnection Complete with reason 0x16. */
  #disconnect(params: Uint8Array): void {
    const handle = (params[0] ?? 0) | ((params[1] ?? 0) << 8);
    if (this.#link?.handle !== handle) {
      this.#send(commandStatus(OP.DISCONNECT, HCI_STATUS.UNKNOWN_CONNECTION_ID));
      return;
    }
    this.#send(commandStatus(OP.DISCONNECT, HCI_STATUS.SUCCESS));
    this.#dropLink('central disconnected');
    this.#send(disconnectionComplete(handle, HCI_STATUS.LOCAL_HOST_TERMINATED));
  }

  #openLink(): void {
    const link = new HciLink(
      LINK_HANDLE,
      this.#peripheral,
      (packet) => this.#send(packet),
      (reason) => {
        if (this.#link !== link) return;
        this.#dropLink(reason);
        this.#send(disconnectionComplete(link.handle, HCI_STATUS.REMOTE_USER_TERMINATED));
      },
    );
    this.#link = link;
    this.#opts.onEvent?.('connected');
  }

  #dropLink(reason: string): void {
    const link = this.#link;
    if (!link) return;
    this.#link = undefined;
    this.#opts.onEvent?.(`disconnected:${reason}`);
    link.drop(reason);
  }

  /** Host ACL data: every packet is "transmitted" at once and counted back (7.7.19). */
  #acl(packet: Extract<HostPacket, { kind: 'acl' }>): void {
    this.#send(numberOfCompletedPackets(packet.handle, 1));
    if (this.#link?.handle === packet.handle) this.#link.receive(packet);
  }
}

/** Serves `peripheral` through an emulated controller on `stream` (a socket from socat, a pipe). */
export function serveHci(
  peripheral: VirtualPeripheral,
  stream: Duplex,
  opts?: HciControllerOptions,
): HciController {
  return new HciController(peripheral, stream, opts);
}
