import { appendFileSync, writeFileSync } from 'node:fs';
import {
  type Comparison,
  compareRuns,
  comparisonJson,
  comparisonMarkdown,
  loadRun,
  type MeasurementChange,
  type VerdictChange,
} from '../report/compare.ts';
import { deviceText } from '../untrusted.ts';
import { EXIT } from './exit-codes.ts';

/**
 * `chiprig compare A B`: prints what changed from run A to run B, writes it as Markdown
 * and JSON where asked (and as the GitHub job summary), and exits 1 when B regressed
 * against A, 0 when not, 2 when an input cannot be read.
 */
export function compare(a: string, b: string, opts: { json?: string; markdown?: string }): number {
  const c = compareRuns(loadRun(a), loadRun(b));
  process.stdout.write(consoleText(c));
  const md = comparisonMarkdown(c);
  if (opts.markdown) writeFileSync(opts.markdown, md);
  if (opts.json) writeFileSync(opts.json, `${JSON.stringify(comparisonJson(c), null, 2)}\n`);
  const summary = process.env.GITHUB_STEP_SUMMARY;
  if (summary) appendFileSync(summary, `${md}\n`);
  return c.regressed ? EXIT.FAILED : EXIT.PASSED;
}

function consoleText(c: Comparison): string {
  const t = (s: string | undefined) => (s === undefined ? '–' : deviceText(s, 120));
  const out: string[] = [
    `A: ${t(c.a.source)} (station ${t(c.a.station)}, ${t(c.a.device)})`,
    `B: ${t(c.b.source)} (station ${t(c.b.station)}, ${t(c.b.device)})`,
  ];
  if (c.identity.length > 0) {
    const w = Math.max(...c.identity.map((r) => r.field.length), 5);
    const wa = Math.min(48, Math.max(...c.identity.map((r) => t(r.a).length), 1));
    out.push('', `device identity${' '.repeat(Math.max(1, w - 14))}  ${'A'.padEnd(wa)}  B`);
    for (const r of c.identity) {
      out.push(`${r.changed ? '*' : ' '} ${r.field.padEnd(w)}  ${t(r.a).padEnd(wa)}  ${t(r.b)}`);
    }
  }
  const verdicts = (title: string, rows: VerdictChange[]) => {
    if (rows.length === 0) return;
    out.push('', `${title} (${rows.length}):`);
    for (const r of rows) {
      out.push(
        `  ${r.key.padEnd(22)} ${r.a} -> ${r.b}${r.message ? `: ${t(r.message.split('\n')[0])}` : ''}`,
      );
    }
  };
  verdicts('NEW FAILURES', c.newFailures);
  verdicts('fixes', c.fixes);
  verdicts('new skips', c.newSkips);
  verdicts('other verdict changes', c.otherChanges);
  const measurements = (title: string, rows: MeasurementChange[]) => {
    if (rows.length === 0) return;
    out.push('', `${title} (${rows.length}):`);
    for (const m of rows) {
      out.push(
        `  ${m.key}: ${fmt(m.a)} -> ${fmt(m.b)} ${m.unit} (${m.direction})`,
        `      ${deviceText(m.why, 400)}`,
      );
    }
  };
  measurements('LIMITS NEWLY CROSSED', c.newlyOutside);
  measurements('measurements changed beyond noise', c.measurementChanges);
  out.push(
    '',
    `${c.a.cells.size} and ${c.b.cells.size} requirement × transport cells; ${c.newFailures.length} new failures, ${c.fixes.length} fixes, ${c.newSkips.length} new skips; ${c.compared} measurements compared, ${c.measurementChanges.length} beyond noise; not judged: ${c.unjudged} without a sample interval, ${c.tails} tail percentiles`,
    c.regressed
      ? `B REGRESSED against A: ${c.reasons.length} reason${c.reasons.length === 1 ? '' : 's'}`
      : 'no regression',
  );
  return `${out.join('\n')}\n`;
}

const fmt = (x: number) => Number(x.toPrecision(4)).toString();
