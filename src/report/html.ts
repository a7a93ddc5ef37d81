/**
 * The report as ONE self-contained HTML page: inline CSS and inline SVG charts drawn here, no
 * script, no font, no image, no network — it opens from disk in any browser.
 */
import type { ProductionReport } from './build.js';

const esc = (value: unknown): string =>
  String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);
const ms = (v: number | null) => (v === null ? 'n/a' : v < 1000 ? `${v} ms` : `${(v / 1000).toFixed(1)} s`);

const W = 760;
const H = 260;
const M = { top: 16, right: 16, bottom: 44, left: 48 };
const plotW = W - M.left - M.right;
const plotH = H - M.top - M.bottom;

/** A rounded-up axis maximum with 4 even steps (1, 2, 2.5, 5 × 10^n); whole steps for counts. */
function niceMax(max: number): number {
  if (max <= 4) return 4;
  const step = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(step));
  const nice = [1, 2, 2.5, 5, 10].find((m) => m * magnitude >= step)! * magnitude;
  return Math.ceil(nice) * 4;
}

function frame(id: string, label: string, yMax: number, yFormat: (v: number) => string, xLabels: string[], body: string): string {
  const ticks = [0, 1, 2, 3, 4].map((i) => {
    const value = (yMax / 4) * i;
    const y = M.top + plotH - (plotH * i) / 4;
    return `<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}"/><text class="tick" x="${M.left - 6}" y="${y + 4}" text-anchor="end">${esc(yFormat(value))}</text>`;
  });
  const every = Math.max(1, Math.ceil(xLabels.length / 10));
  const slot = plotW / Math.max(1, xLabels.length);
  const xs = xLabels
    .map((l, i) => (i % every === 0 ? `<text class="tick" x="${M.left + slot * (i + 0.5)}" y="${H - M.bottom + 18}" text-anchor="middle">${esc(l)}</text>` : ''))
    .join('');
  return `<svg id="${id}" class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(label)}" xmlns="http://www.w3.org/2000/svg">
${ticks.join('\n')}
<line class="axis" x1="${M.left}" x2="${W - M.right}" y1="${M.top + plotH}" y2="${M.top + plotH}"/>
${xs}
${body}
</svg>`;
}

interface Series {
  name: string;
  className: string;
  values: Array<number | null>;
}

function barChart(id: string, label: string, xLabels: string[], series: Series[], yFormat: (v: number) => string = (v) => String(Math.round(v))): string {
  const yMax = niceMax(Math.max(0, ...series.flatMap((s) => s.values.map((v) => v ?? 0))));
  const slot = plotW / Math.max(1, xLabels.length);
  const barW = Math.max(2, (slot * 0.8) / series.length);
  const bars = xLabels.flatMap((x, i) =>
    series.map((s, j) => {
      const v = s.values[i] ?? 0;
      const h = (plotH * v) / yMax;
      const left = M.left + slot * i + slot * 0.1 + barW * j;
      return `<rect class="datum ${s.className}" data-series="${esc(s.name)}" data-label="${esc(x)}" data-value="${v}" x="${left.toFixed(1)}" y="${(M.top + plotH - h).toFixed(1)}" width="${barW.toFixed(1)}" height="${h.toFixed(1)}"><title>${esc(`${x} · ${s.name}: ${yFormat(v)}`)}</title></rect>`;
    }),
  );
  return frame(id, label, yMax, yFormat, xLabels, bars.join('\n'));
}

function lineChart(id: string, label: string, xLabels: string[], series: Series[]): string {
  const slot = plotW / Math.max(1, xLabels.length);
  const point = (i: number, v: number) => [M.left + slot * (i + 0.5), M.top + plotH - plotH * v] as const;
  const body = series.map((s) => {
    // A gap (day without questions) breaks the line rather than drawing 0%.
    const segments: string[][] = [[]];
    s.values.forEach((v, i) => {
      if (v === null) segments.push([]);
      else segments[segments.length - 1]!.push(point(i, v).map((n) => n.toFixed(1)).join(','));
    });
    const lines = segments.filter((seg) => seg.length > 1).map((seg) => `<polyline class="line ${s.className}" points="${seg.join(' ')}"/>`);
    const dots = s.values.flatMap((v, i) => {
      if (v === null) return [];
      const [x, y] = point(i, v);
      return [`<circle class="datum ${s.className}" data-series="${esc(s.name)}" data-label="${esc(xLabels[i])}" data-value="${v.toFixed(4)}" cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="4"><title>${esc(`${xLabels[i]} · ${s.name}: ${pct(v)}`)}</title></circle>`];
    });
    return [...lines, ...dots].join('\n');
  });
  return frame(id, label, 1, (v) => `${Math.round(v * 100)}%`, xLabels, body.join('\n'));
}

function legend(items: Array<[string, string]>): string {
  return `<p class="legend">${items.map(([cls, name]) => `<span><i class="${cls}"></i>${esc(name)}</span>`).join('')}</p>`;
}

function table(headers: string[], rows: string[][], empty: string): string {
  if (rows.length === 0) return `<p class="empty">${esc(empty)}</p>`;
  return `<table><thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

const card = (label: string, value: string, note = '') => `<div class="card"><div class="value">${esc(value)}</div><div class="label">${esc(label)}</div>${note ? `<div class="note">${esc(note)}</div>` : ''}</div>`;

export function renderHtml(report: ProductionReport, options: { title?: string } = {}): string {
  const title = options.title ?? 'Groundline report';
  const days = report.daily.map((d) => d.day.slice(5));
  const window = `${report.since.slice(0, 16).replace('T', ' ')} – ${report.until.slice(0, 16).replace('T', ' ')} UTC`;
  const kb = report.knowledge.bases.map((b) => `${b.kb} v${b.currentVersion ?? '—'}`).join(', ') || 'none';

  const messagesChart = barChart('chart-messages', 'Messages per day', days, [
    { name: 'received', className: 's1', values: report.daily.map((d) => d.inbound) },
    { name: 'sent', className: 's2', values: report.daily.map((d) => d.outbound) },
  ]);
  const trendChart = lineChart('chart-trend', 'Coverage and escalation rate per day', days, [
    { name: 'coverage', className: 's1', values: report.daily.map((d) => d.coverage) },
    { name: 'escalation rate', className: 's3', values: report.daily.map((d) => d.escalationRate) },
  ]);
  const latencyChart = barChart('chart-latency', 'Webhook-to-reply time distribution', report.latency.histogram.map((b) => b.label), [
    { name: 'turns', className: 's2', values: report.latency.histogram.map((b) => b.count) },
  ]);

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
  :root { color-scheme: light; --ink: #1d2433; --muted: #667085; --line: #e4e7ec; --s1: #2f6fde; --s2: #14a38b; --s3: #e5533d; }
  * { box-sizing: border-box; }
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0; background: #f7f8fa; }
  main { max-width: 1040px; margin: 0 auto; padding: 24px; }
  h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; }
  .meta { color: var(--muted); margin: 0 0 16px; }
  .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
  .card .value { font-size: 22px; font-weight: 600; } .card .label { color: var(--muted); } .card .note { color: var(--muted); font-size: 12px; }
  section.panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin-top: 12px; overflow-x: auto; }
  svg.chart { display: block; width: 100%; max-width: 980px; height: auto; }
  .grid { stroke: var(--line); } .axis { stroke: #98a2b3; } .tick { fill: var(--muted); font-size: 11px; }
  rect.s1, circle.s1, .legend i.s1 { fill: var(--s1); background: var(--s1); }
  rect.s2, circle.s2, .legend i.s2 { fill: var(--s2); background: var(--s2); }
  rect.s3, circle.s3, .legend i.s3 { fill: var(--s3); background: var(--s3); }
  polyline.line { fill: none; stroke-width: 2; } polyline.s1 { stroke: var(--s1); } polyline.s3 { stroke: var(--s3); }
  .legend { margin: 4px 0 0; color: var(--muted); } .legend span { margin-right: 16px; } .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
  table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { color: var(--muted); font-weight: 500; } td.num, th.num { text-align: right; }
  .empty { color: var(--muted); font-style: italic; }
</style>
</head>
<body>
<main>
<h1>${esc(title)}</h1>
<p class="meta">${esc(window)} · knowledge in use: ${esc(kb)} · generated ${esc(report.generatedAt.slice(0, 19).replace('T', ' '))} UTC</p>

<div class="cards">
${card('conversations', String(report.messages.conversations), `${report.messages.senders} people`)}
${card('messages received', String(report.messages.inbound), `${report.messages.outbound} reply parts sent`)}
${card('coverage', pct(report.questions.coverage), `${report.questions.answered} of ${report.questions.total} questions answered`)}
${card('escalation rate', pct(report.escalations.rate), `${report.escalations.total} escalations`)}
${card('reply time p50', ms(report.latency.p50Ms), `p95 ${ms(report.latency.p95Ms)} · ${report.latency.turns} turns`)}
${card('failure events', String(report.failures.inbound + report.failures.outbound + report.failures.fallbacks), `${report.failures.stuck} stuck over 10 min`)}
</div>

<h2>Messages per day</h2>
<section class="panel">${messagesChart}${legend([['s1', 'received'], ['s2', 'reply parts sent']])}</section>

<h2>Coverage and escalation trend</h2>
<section class="panel">${trendChart}${legend([['s1', 'coverage (answered without escalation)'], ['s3', 'escalation rate']])}</section>

<h2>Time from webhook to reply</h2>
<section class="panel">${latencyChart}${legend([['s2', `turns (p50 ${ms(report.latency.p50Ms)}, p95 ${ms(report.latency.p95Ms)})`]])}</section>

<h2>Escalations by category</h2>
<section class="panel">${table(
    ['category', 'count', 'per question'],
    report.escalations.byCategory.map((c) => [esc(c.category), String(c.count), pct(c.rate)]),
    'No escalations in this period.',
  )}${report.escalations.byStatus ? `<p class="meta">status: ${esc(Object.entries(report.escalations.byStatus).map(([s, n]) => `${s} ${n}`).join(' · '))}</p>` : ''}</section>

<h2>Questions that most often led to an escalation</h2>
<section class="panel">${table(
    ['question', 'times', 'categories', 'last asked'],
    report.topEscalatedQuestions.map((q) => [esc(q.question), String(q.count), esc(q.categories.join(', ')), esc(q.lastAt.slice(0, 16).replace('T', ' '))]),
    'No escalated questions in this period.',
  )}</section>

<h2>Failures</h2>
<section class="panel"><p>${report.failures.inbound} inbound failed · ${report.failures.outbound} reply parts not sent · ${report.failures.fallbacks} fallbacks · ${report.failures.stuck} stuck over 10 minutes</p>${table(
    ['when', 'where', 'error'],
    report.failures.recent.map((f) => [esc(f.at.slice(0, 19).replace('T', ' ')), esc(f.where), esc(f.error)]),
    'No failures in this period.',
  )}</section>

<h2>Knowledge</h2>
<section class="panel">${table(
    ['knowledge base', 'version in use', 'since', 'documents', 'passages'],
    report.knowledge.bases.map((b) => [esc(b.kb), b.currentVersion === null ? '—' : `v${b.currentVersion}`, esc(b.activatedAt?.slice(0, 16).replace('T', ' ') ?? '—'), String(b.documents), String(b.chunks)]),
    'No knowledge base yet.',
  )}<p class="meta">questions answered per version: ${esc(report.knowledge.answeredWith.map((v) => `${v.version === null ? 'none' : `v${v.version}`} ${v.questions}`).join(' · ') || 'none')}</p></section>
</main>
</body>
</html>
`;
}
