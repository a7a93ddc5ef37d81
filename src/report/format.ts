/** The production report for a terminal. */
import type { ProductionReport } from './build.js';

const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);
const ms = (v: number | null) => (v === null ? 'n/a' : v < 1000 ? `${v} ms` : `${(v / 1000).toFixed(2)} s`);
const clip = (s: string, n: number) => {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length <= n ? flat : `${flat.slice(0, n - 1)}…`;
};

export function formatReport(r: ProductionReport): string {
  const row = (label: string, value: string, note = '') => `  ${label.padEnd(26)} ${value.padStart(9)}${note ? `   ${note}` : ''}`;
  const lines = [
    `Groundline report: ${r.since.slice(0, 16).replace('T', ' ')} – ${r.until.slice(0, 16).replace('T', ' ')} UTC`,
    `  knowledge in use: ${r.knowledge.bases.map((b) => `${b.kb} v${b.currentVersion ?? '—'} (${b.documents} documents${b.activatedAt ? `, since ${b.activatedAt.slice(0, 16).replace('T', ' ')}` : ''})`).join('; ') || 'none'}`,
    '',
    'Traffic',
    row('conversations', String(r.messages.conversations), `${r.messages.senders} people; a conversation ends after 24 h of silence`),
    row('messages received', String(r.messages.inbound), Object.entries(r.messages.byStatus).map(([s, n]) => `${s} ${n}`).join(', ')),
    row('reply parts sent', String(r.messages.outbound)),
    'Answers',
    row('questions', String(r.questions.total)),
    row('coverage', pct(r.questions.coverage), `${r.questions.answered} answered without escalation`),
    row('escalation rate', pct(r.escalations.rate), `${r.escalations.total} escalations (from ${r.escalations.source === 'escalations' ? 'the escalation records' : 'the answer log'})`),
    ...r.escalations.byCategory.map((c) => row(`  ${c.category}`, String(c.count), `${pct(c.rate)} of questions`)),
    ...(r.escalations.byStatus && Object.keys(r.escalations.byStatus).length > 0
      ? [`  ${'by status'.padEnd(26)} ${Object.entries(r.escalations.byStatus).map(([s, n]) => `${s} ${n}`).join(', ')}`]
      : []),
    'Time from webhook to reply',
    row('median (p50)', ms(r.latency.p50Ms), `${r.latency.turns} turns`),
    row('p95', ms(r.latency.p95Ms)),
    'Failures',
    row('inbound failed', String(r.failures.inbound)),
    row('reply parts not sent', String(r.failures.outbound)),
    row('fallback replies', String(r.failures.fallbacks)),
    row('stuck > 10 min', String(r.failures.stuck)),
    ...r.failures.recent.map((f) => `    ${f.at.slice(0, 19).replace('T', ' ')}  ${f.where.padEnd(8)} ${clip(f.error, 90)}`),
  ];
  lines.push('', 'Questions that most often led to an escalation (the gaps to fill first)');
  if (r.topEscalatedQuestions.length === 0) lines.push('  none');
  for (const q of r.topEscalatedQuestions) lines.push(`  ${String(q.count).padStart(4)}×  ${clip(q.question, 80)}  [${q.categories.join(', ')}]`);
  lines.push('', 'Per day (UTC)', '  day         received  sent  questions  coverage  escalated');
  for (const d of r.daily) {
    lines.push(`  ${d.day}  ${String(d.inbound).padStart(8)}  ${String(d.outbound).padStart(4)}  ${String(d.questions).padStart(9)}  ${pct(d.coverage).padStart(8)}  ${pct(d.escalationRate).padStart(9)}`);
  }
  return `${lines.join('\n')}\n`;
}
