/**
 * Text a device chose (USB strings, BLE names, Device Information, certificate subjects, a
 * reader's name) is untrusted: it goes into terminals, report files and CI summaries. Control
 * characters (a newline forging a line, an ANSI escape rewriting a terminal), bidirectional
 * overrides (text that reads differently than it is) and great lengths are shown escaped.
 */
const MAX_CHARS = 160;

// Controls (C0, C1, DEL), format characters (bidi marks, embeddings, overrides and isolates,
// zero-width and BOM), and the line and paragraph separators.
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

export function deviceText(text: string | undefined, max = MAX_CHARS): string {
  if (text === undefined) return '';
  const safe = String(text).replace(UNSAFE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
  const chars = [...safe];
  return chars.length > max ? `${chars.slice(0, max).join('')}… (${chars.length} characters)` : safe;
}
