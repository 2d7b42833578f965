import { ConfigError } from '../../rig/errors.ts';
import {
  type Link,
  type LinkContext,
  type LinkKind,
  registerLinkKind,
} from '../../rig/station/links/index.ts';
import type { Transport } from '../../rig/transport/transport.ts';

/**
 * A fourth transport kind, added through the link registry alone: U2F messages go straight
 * to the emulated chip's authenticator core, with no framing between. It proves that a new
 * kind needs one module and one registration, and nothing else in the rig.
 */
class LoopLink implements Link {
  readonly kind = 'loop';
  #transport: Transport | undefined;

  constructor(private readonly ctx: LinkContext) {}

  get current(): Transport | undefined {
    return this.#transport;
  }

  get isOpen(): boolean {
    return this.#transport !== undefined;
  }

  async open(): Promise<Transport> {
    const { emulator, traffic } = this.ctx;
    if (!emulator)
      throw new ConfigError(`${this.ctx.spec.text}: the loopback link reaches the emulated chip only`);
    this.#transport ??= {
      kind: 'loop',
      exchange: async (apdu) => {
        traffic.record('send', 'loop', apdu);
        const answer = emulator.authenticator.process(apdu);
        traffic.record('recv', 'loop', answer);
        return answer;
      },
      close: async () => {
        this.#transport = undefined;
      },
    };
    return this.#transport;
  }

  async close(): Promise<void> {
    this.#transport = undefined;
  }

  facts(): Record<string, string> {
    return this.#transport ? { loopback: 'the emulated authenticator core, unframed' } : {};
  }
}

export const LOOP_LINK: LinkKind = {
  kind: 'loop',
  name: 'Loopback',
  letter: 'L',
  serves: () => false,
  create: (ctx) => new LoopLink(ctx),
};

registerLinkKind(LOOP_LINK);
