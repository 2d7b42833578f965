/**
 * How a U2F client gets the user's presence when the device asks for it (6985, or FIDO
 * BLE's KEEPALIVE "user presence needed"). The u2f layer owns the interface; the station's
 * PresenceController (rig/station/presence.ts) implements it with an actuator, an operator
 * prompt or the device approving by itself.
 */

/** How presence is given: an actuator presses, an operator is asked, or the device approves by itself. */
export const PRESENCE_MODES = ['actuator', 'prompt', 'auto'] as const;
export type PresenceMode = (typeof PRESENCE_MODES)[number];

export interface UserPresence {
  /** 'auto' cannot withhold a press: the device approves by itself. */
  readonly mode: PresenceMode;
  /** How long to wait for presence once the device asked for it, ms. */
  readonly timeoutMs: number;
  /** How often to re-send a request that answered 6985, ms. */
  readonly pollMs: number;
  /** Starts giving presence for `what` (e.g. "REGISTER"). */
  request(what: string): Promise<void>;
  /** What a request still answered 6985 after timeoutMs throws. */
  timeoutError(what: string): Error;
}
