/**
 * Who may use chiprig serve. On loopback (the default) only this machine reaches it; the Host
 * header must then name loopback too (a page on another site cannot rebind its name to us).
 * On any other address every request needs the station's token: once in the address
 * (`/?token=...`, traded at once for a cookie and dropped from the address bar), then the
 * cookie, or an `Authorization: Bearer` header for scripts. Every state-changing request also
 * needs an Origin of this server (no other site's page can start or stop a run). The token is
 * compared in constant time and never written to a page or a log.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { ConfigError } from '../errors.ts';

export const COOKIE = 'chiprig_token';

export interface Listen {
  host: string;
  port: number;
  loopback: boolean;
}

/** "HOST:PORT", "[v6]:PORT", "PORT" or "HOST" (port 8070). */
export function parseListen(text: string): Listen {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))?(?::(\d{1,5}))?$/.exec(text.trim());
  const onlyPort = /^\d{1,5}$/.test(text.trim());
  const host = onlyPort ? '127.0.0.1' : (m?.[1] ?? m?.[2] ?? '127.0.0.1');
  const port = Number(onlyPort ? text.trim() : (m?.[3] ?? 8070));
  if ((!m && !onlyPort) || !(port >= 0 && port <= 65535)) {
    throw new ConfigError(
      `--listen: "${text}" is not HOST:PORT (e.g. 127.0.0.1:8070, 0.0.0.0:8070, [::1]:8070)`,
    );
  }
  return { host, port, loopback: isLoopback(host) };
}

export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return isLoopback(h.slice('::ffff:'.length));
  return false;
}

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

export function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

export interface Verdict {
  ok: boolean;
  status?: number;
  why?: string;
  /** The token came in the address: set the cookie and send the browser to the clean address. */
  setCookieAndRedirect?: string;
}

export interface RequestFacts {
  method: string;
  url: string;
  host: string | undefined;
  origin: string | undefined;
  secFetchSite: string | undefined;
  cookie: string | undefined;
  authorization: string | undefined;
}

/** Judges one request against the listen address and token (`https`: served over TLS). */
export function judge(req: RequestFacts, listen: Listen, token: string | undefined, https = false): Verdict {
  const host = req.host ?? '';
  if (listen.loopback) {
    const name = host.replace(/:\d+$/, '');
    if (!isLoopback(name)) {
      return {
        ok: false,
        status: 403,
        why: `Host "${host.slice(0, 100)}" is not this machine's loopback address`,
      };
    }
  } else {
    const url = new URL(req.url, 'http://x');
    const inUrl = url.searchParams.get('token') ?? undefined;
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.authorization ?? '')?.[1];
    const given = bearer ?? cookieValue(req.cookie, COOKIE) ?? inUrl;
    if (!token || !sameToken(given, token)) {
      return {
        ok: false,
        status: 401,
        why: 'this chiprig serve listens beyond loopback and needs its token: open the address it printed at start (…/?token=…), or send Authorization: Bearer TOKEN',
      };
    }
    if (inUrl !== undefined && req.method === 'GET' && given === inUrl) {
      url.searchParams.delete('token');
      return { ok: true, setCookieAndRedirect: `${url.pathname}${url.search}` };
    }
  }
  if (!['GET', 'HEAD', 'OPTIONS'].includes(req.method)) {
    const expected = `${https ? 'https' : 'http'}://${host}`;
    if (req.origin !== expected || (req.secFetchSite !== undefined && req.secFetchSite !== 'same-origin')) {
      return {
        ok: false,
        status: 403,
        why: `a ${req.method} must come from this server's own page (Origin ${req.origin ?? '(none)'} is not ${expected})`,
      };
    }
  }
  return { ok: true };
}
