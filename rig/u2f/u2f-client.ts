import { hex } from '../bytes.ts';
import { StatusWordError } from '../errors.ts';
import { parseResponse, SW } from '../transport/nfc/apdu.ts';
import type { ExchangeOptions, Transport } from '../transport/transport.ts';
import { AUTH_P1 } from './apdu.ts';
import {
  encodeAuthenticate,
  encodeRegister,
  encodeVersion,
  parseAuthenticateResponse,
  parseRegisterResponse,
} from './messages.ts';
import type { UserPresence } from './presence.ts';

/** FIDO BLE KEEPALIVE status 0x02: the device waits for a touch. */
const KEEPALIVE_UP_NEEDED = 0x02;

export type ApduResponse = ReturnType<typeof parseResponse>;
export type RegisterResponse = ReturnType<typeof parseRegisterResponse>;
export type AuthenticateResponse = ReturnType<typeof parseAuthenticateResponse>;

/**
 * U2F over any Transport. `send` is raw (any status word comes back); the operation
 * methods require 9000, getting presence through `presence` (the station's
 * PresenceController) when the device answers 6985, and throw StatusWordError otherwise.
 */
export class U2fClient {
  readonly transport: Transport;
  readonly presence: UserPresence | undefined;
  readonly exchangeOptions: ExchangeOptions;

  constructor(transport: Transport, presence?: UserPresence, exchangeOptions: ExchangeOptions = {}) {
    this.transport = transport;
    this.presence = presence;
    this.exchangeOptions = exchangeOptions;
  }

  send(apdu: Uint8Array, opts?: ExchangeOptions): Promise<ApduResponse> {
    // A plain promise chain rather than an async function: one promise round less per
    // exchange. A transport that throws instead of rejecting still gives a rejection.
    try {
      const options = opts ? { ...this.exchangeOptions, ...opts } : this.exchangeOptions;
      return this.transport.exchange(apdu, options).then(parseResponse);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Starts giving presence (press, prompt) for what comes next. A client without a
   * presence controller (NFC, where the tap is the presence) does nothing.
   */
  async requestPresence(what: string): Promise<void> {
    await this.presence?.request(what);
  }

  /**
   * Sends; on 6985 gets presence and re-sends until the answer changes or time runs out.
   * A device that waits for the press instead (FIDO BLE: KEEPALIVE "user presence needed")
   * gets it while it waits.
   */
  async sendWithPresence(apdu: Uint8Array, what: string): Promise<ApduResponse> {
    let asked = false;
    const onKeepalive = (code: number) => {
      if (code !== KEEPALIVE_UP_NEEDED || asked || !this.presence) return;
      asked = true;
      this.presence.request(what).catch(() => undefined);
    };
    let response = await this.send(apdu, { onKeepalive });
    if (response.sw !== SW.CONDITIONS_NOT_SATISFIED || !this.presence) return response;
    const presence = this.presence;
    await presence.request(what);
    const deadline = performance.now() + presence.timeoutMs;
    for (;;) {
      response = await this.send(apdu);
      if (response.sw !== SW.CONDITIONS_NOT_SATISFIED) return response;
      if (performance.now() >= deadline) throw presence.timeoutError(what);
      await new Promise((r) => setTimeout(r, presence.pollMs));
    }
  }

  async version(form: 'iso' | 'legacy' = 'iso'): Promise<string> {
    const response = expectOk(await this.send(encodeVersion(form)), 'VERSION');
    return new TextDecoder().decode(response.data);
  }

  async register(challengeParam: Uint8Array, appParam: Uint8Array, opts: { p1?: number } = {}) {
    const apdu = encodeRegister(challengeParam, appParam, opts.p1 === undefined ? {} : { p1: opts.p1 });
    const response = expectOk(await this.sendWithPresence(apdu, 'REGISTER'), 'REGISTER');
    return parseRegisterResponse(response.data);
  }

  /** Enforce-presence authentication (P1 0x03), pressing as needed. */
  async authenticate(challengeParam: Uint8Array, appParam: Uint8Array, keyHandle: Uint8Array) {
    const apdu = encodeAuthenticate(AUTH_P1.ENFORCE, challengeParam, appParam, keyHandle);
    const response = expectOk(await this.sendWithPresence(apdu, 'AUTHENTICATE'), 'AUTHENTICATE');
    return parseAuthenticateResponse(response.data);
  }
}

/** A well-formed request the device refused is a device failure: the message shows the bytes. */
export function expectOk(response: ApduResponse, what: string): ApduResponse {
  if (response.sw !== SW.NO_ERROR) {
    throw new StatusWordError(
      response.sw,
      response.raw,
      `${what}: expected SW 9000, device answered ${response.sw.toString(16).padStart(4, '0')} (response ${hex(response.raw)})`,
      SW.NO_ERROR,
    );
  }
  return response;
}
