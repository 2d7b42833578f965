import { hex } from '../bytes.ts';
import { hostRandomBytes } from '../random.ts';
import type { Station } from '../station/station.ts';
import { authenticationSignedData } from '../u2f/messages.ts';
import { verifySignature } from '../u2f/verify.ts';
import type { FuzzTransport } from './case.ts';

/**
 * The state oracle: one credential registered when the campaign starts; every canary
 * registers a fresh one (the device still makes keys) and authenticates with the first
 * (its signature verifies, user presence is set, the counter rose since the last canary).
 * A canary that fails after the device passed the liveness probe is state corruption.
 */
export class Canary {
  keyHandle: Uint8Array | undefined;
  readonly appParam = hostRandomBytes(32);
  #publicKey: Uint8Array | undefined;
  #counter = -1;

  constructor(
    private readonly station: Station,
    private readonly transport: FuzzTransport,
  ) {}

  async setup(): Promise<void> {
    const u2f = await this.station.u2fOver(this.transport);
    const reg = await u2f.register(hostRandomBytes(32), this.appParam);
    this.keyHandle = reg.keyHandle;
    this.#publicKey = reg.userPublicKey;
    this.#counter = -1;
    const failure = await this.check(false);
    if (failure) throw new Error(`the first canary failed before any fuzz case: ${failure}`);
  }

  /** Undefined when the device still registers and signs correctly; else what went wrong. */
  async check(registerToo = true): Promise<string | undefined> {
    try {
      const u2f = await this.station.u2fOver(this.transport);
      if (registerToo) await u2f.register(hostRandomBytes(32), hostRandomBytes(32));
      const challenge = hostRandomBytes(32);
      const auth = await u2f.authenticate(challenge, this.appParam, this.keyHandle!);
      const signed = authenticationSignedData(this.appParam, auth.flags, auth.counter, challenge);
      if (!verifySignature(this.#publicKey!, signed, auth.signature)) {
        return `AUTHENTICATE signature does not verify with the registered key (response ${hex(auth.raw)})`;
      }
      if ((auth.flags & 0x01) === 0)
        return `AUTHENTICATE flags ${auth.flags.toString(16)}: user presence not set`;
      if (auth.counter <= this.#counter) {
        return `the counter did not rise: ${this.#counter} at the last canary, ${auth.counter} now`;
      }
      this.#counter = auth.counter;
      return undefined;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }
}
