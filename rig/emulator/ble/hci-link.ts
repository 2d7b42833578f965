/**
 * One LE link of the emulated controller: L2CAP (Core Vol 3 Part A) reassembly of the host's
 * ACL fragments, the fixed channels (ATT on CID 4, LE signalling on CID 5, SMP on CID 6), and
 * the CentralSession the peripheral uses to notify or to drop the link.
 */
import { ATT, AttServer } from './hci-att-server.ts';
import { aclPacket, type HostPacket } from './hci-packets.ts';
import type { CentralSession, VirtualPeripheral } from './peripheral.ts';

/** L2CAP fixed channels on an LE link (Vol 3 Part A 2.1). */
export const CID = { ATT: 0x0004, SIGNALING: 0x0005, SMP: 0x0006 } as const;

/** LE signalling codes that are responses or credits, never answered (Vol 3 Part A 4). */
const SIGNALING_NO_ANSWER = new Set([0x01, 0x13, 0x15, 0x16]);
/** SMP Pairing Failed, reason Pairing Not Supported (Vol 3 Part H 3.5.5). */
const SMP_PAIRING_FAILED = 0x05;
const SMP_PAIRING_NOT_SUPPORTED = 0x05;

export class HciLink {
  readonly att: AttServer;
  readonly session: CentralSession;
  /** L2CAP frame being reassembled from ACL fragments (Vol 3 Part A 7.2). */
  #partial: { length: number; cid: number; data: Uint8Array } | undefined;
  /** peripheral.connect() was called (at the MTU exchange or the first other ATT PDU). */
  #announced = false;
  #open = true;

  constructor(
    readonly handle: number,
    private readonly peripheral: VirtualPeripheral,
    private readonly send: (packet: Uint8Array) => void,
    /** The peripheral dropped the link: the controller reports it to the host. */
    onPeripheralDisconnect: (reason: string) => void,
  ) {
    this.att = new AttServer(peripheral.services(), peripheral.maxMtu, (s, c, on) =>
      peripheral.subscribed(s, c, on),
    );
    this.session = {
      notify: (service, characteristic, data) => {
        if (!this.#open) return; // a session outliving its link stays quiet
        const pdu = this.att.valueUpdate(service, characteristic, data);
        if (pdu) this.send(aclPacket(this.handle, CID.ATT, pdu));
      },
      disconnect: (reason) => {
        if (this.#open) onPeripheralDisconnect(reason ?? 'peripheral disconnected');
      },
    };
  }

  /** The link is gone; the peripheral hears it if it had heard of the central. Idempotent. */
  drop(reason: string): void {
    if (!this.#open) return;
    this.#open = false;
    if (this.#announced) this.peripheral.disconnected(reason);
  }

  /** One host ACL packet (Vol 4 Part E 5.4.2): Packet_Boundary_Flag 0b01 continues a frame. */
  receive(packet: Extract<HostPacket, { kind: 'acl' }>): void {
    const data = packet.data;
    if (packet.boundary !== 0b01) {
      const length = (data[0] ?? 0) | ((data[1] ?? 0) << 8);
      const cid = (data[2] ?? 0) | ((data[3] ?? 0) << 8);
      this.#partial = { length, cid, data: data.slice(4) };
    } else if (this.#partial) {
      const merged = new Uint8Array(this.#partial.data.length + data.length);
      merged.set(this.#partial.data);
      merged.set(data, this.#partial.data.length);
      this.#partial.data = merged;
    }
    const frame = this.#partial;
    if (!frame || frame.data.length < frame.length) return;
    this.#partial = undefined;
    this.#l2cap(frame.cid, frame.data.subarray(0, frame.length));
  }

  #l2cap(cid: number, payload: Uint8Array): void {
    if (payload.length === 0) return;
    if (cid === CID.ATT) {
      // The peripheral hears of the central once the MTU is known (noble exchanges it first).
      if (!this.#announced && payload[0] !== ATT.EXCHANGE_MTU_REQ) this.#announce();
      const answer = this.att.handle(payload);
      if (!this.#announced) this.#announce();
      if (answer && this.#open) this.send(aclPacket(this.handle, CID.ATT, answer));
    } else if (cid === CID.SIGNALING && !SIGNALING_NO_ANSWER.has(payload[0]!)) {
      // Command Reject, reason 0x0000 Command not understood (Vol 3 Part A 4.1).
      this.send(aclPacket(this.handle, cid, Uint8Array.of(0x01, payload[1] ?? 0, 2, 0, 0, 0)));
    } else if (cid === CID.SMP && payload[0] !== SMP_PAIRING_FAILED) {
      this.send(aclPacket(this.handle, cid, Uint8Array.of(SMP_PAIRING_FAILED, SMP_PAIRING_NOT_SUPPORTED)));
    }
  }

  #announce(): void {
    this.#announced = true;
    this.peripheral.connect(this.session, this.att.mtu);
  }
}
