/**
 * The TouchActuator role: something that presses the chip's button. On the emulated
 * station it is the emulator's own button; in a lab, a serial-driven presser (Firmata).
 *
 * Contract: `press` resolves once the button has gone down and up again (holdMs later);
 * it rejects with an InstrumentError when the instrument fails, never with a device error.
 */
export interface TouchActuator {
  readonly name: string;
  press(holdMs?: number): Promise<void>;
}

const RESOLVED: Promise<void> = Promise.resolve();

/** The emulated chip's button, pressed in process. */
export class EmulatorButton implements TouchActuator {
  readonly name = 'emulator-button';
  readonly #press: (holdMs: number) => void;
  constructor(press: (holdMs: number) => void) {
    this.#press = press;
  }
  press(holdMs = 100): Promise<void> {
    // Not an async function: the press is synchronous, so an already settled promise does.
    try {
      this.#press(holdMs);
      return RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
