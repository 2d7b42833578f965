/**
 * A static SVG histogram of a latency distribution, for the report: bars per bin, the p50,
 * p90 and p99 marks, and the limit and marginal lines when the test has them. No scripts,
 * no external references; every text is escaped.
 */
import type { Bin, LatencySummary } from './histogram.ts';

export interface HistogramChart {
  title: string;
  /** What the x axis measures, e.g. "device time, ms (button actuation excluded)". */
  axis: string;
  bins: readonly Bin[];
  summary: LatencySummary;
  limitMs?: number;
  marginalMs?: number;
}

const W = 640;
const H = 280;
const PAD = { left: 56, right: 16, top: 40, bottom: 48 };

export function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
}

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

export function histogramSvg(chart: HistogramChart): string {
  const { bins, summary } = chart;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const marks = [chart.limitMs, chart.marginalMs].filter((v): v is number => v !== undefined);
  const lo = bins.length > 0 ? bins[0]!.fromMs : 0;
  const hiData = bins.length > 0 ? bins.at(-1)!.toMs : 1;
  // Show a limit a little beyond the data, but never squash the data into a sliver.
  const hi = Math.max(hiData, ...marks.filter((m) => m <= hiData * 1.5));
  const span = hi > lo ? hi - lo : 1;
  const x = (ms: number) => PAD.left + ((ms - lo) / span) * plotW;
  const top = Math.max(1, ...bins.map((b) => b.count));
  const y = (count: number) => PAD.top + plotH - (count / top) * plotH;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${PAD.left}" y="18" font-size="13" font-weight="bold">${escapeXml(chart.title)}</text>`,
    `<text x="${PAD.left}" y="32" fill="#555">n=${summary.count}  p50 ${fmt(summary.p50Ms)}  p90 ${fmt(summary.p90Ms)}  p99 ${fmt(summary.p99Ms)}  max ${fmt(summary.maxMs)} ms</text>`,
  );
  for (const b of bins) {
    if (b.count === 0) continue;
    const x0 = x(b.fromMs);
    const w = Math.max(1, x(b.toMs) - x0 - 1);
    parts.push(
      `<rect x="${x0.toFixed(1)}" y="${y(b.count).toFixed(1)}" width="${w.toFixed(1)}" height="${(PAD.top + plotH - y(b.count)).toFixed(1)}" fill="#4a7ebb"><title>${fmt(b.fromMs)}–${fmt(b.toMs)} ms: ${b.count}</title></rect>`,
    );
  }
  const vline = (ms: number, color: string, label: string, dash = '') => {
    if (ms < lo || ms > hi) return;
    const px = x(ms).toFixed(1);
    parts.push(
      `<line x1="${px}" y1="${PAD.top}" x2="${px}" y2="${PAD.top + plotH}" stroke="${color}" stroke-width="1.5"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
      `<text x="${px}" y="${PAD.top - 3}" fill="${color}" text-anchor="middle">${escapeXml(label)}</text>`,
    );
  };
  vline(summary.p50Ms, '#2a2', 'p50');
  vline(summary.p90Ms, '#c80', 'p90');
  vline(summary.p99Ms, '#a33', 'p99');
  if (chart.marginalMs !== undefined) vline(chart.marginalMs, '#e90', 'marginal', '4 3');
  if (chart.limitMs !== undefined) vline(chart.limitMs, '#d00', 'limit', '6 3');
  // Axes with five ticks each.
  const base = PAD.top + plotH;
  parts.push(
    `<line x1="${PAD.left}" y1="${base}" x2="${W - PAD.right}" y2="${base}" stroke="#333"/>`,
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${base}" stroke="#333"/>`,
  );
  for (let i = 0; i <= 4; i++) {
    const ms = lo + (span * i) / 4;
    parts.push(`<text x="${x(ms).toFixed(1)}" y="${base + 14}" text-anchor="middle">${fmt(ms)}</text>`);
    const c = Math.round((top * i) / 4);
    parts.push(`<text x="${PAD.left - 6}" y="${(y(c) + 4).toFixed(1)}" text-anchor="end">${c}</text>`);
  }
  parts.push(
    `<text x="${PAD.left + plotW / 2}" y="${H - 12}" text-anchor="middle">${escapeXml(chart.axis)}</text>`,
    `<text x="14" y="${PAD.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 14 ${PAD.top + plotH / 2})">samples</text>`,
    '</svg>',
  );
  return parts.join('\n');
}
