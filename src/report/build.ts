/**
 * `buildReport`: production figures for operators from what the assistant records — the inbox
 * (inbound_messages), the outbox (outbound_messages), the answer audit (answer_log), and the
 * escalation records when that table exists. Read-only; every figure covers [since, until).
 */
import { percentile } from '../eval/metrics.js';
import type { Queryable } from '../store/index.js';

export interface ReportOptions {
  since: Date;
  /** End of the window (exclusive); now by default. */
  until?: Date;
  /** How many grouped escalation questions to list. */
  topQuestions?: number;
}

export interface DailyFigures {
  /** UTC day, YYYY-MM-DD. */
  day: string;
  inbound: number;
  outbound: number;
  questions: number;
  answered: number;
  escalated: number;
  /** answered / questions; null on a day without questions. */
  coverage: number | null;
  escalationRate: number | null;
}

export interface ProductionReport {
  generatedAt: string;
  since: string;
  until: string;
  knowledge: {
    bases: Array<{ kb: string; currentVersion: number | null; activatedAt: string | null; documents: number; chunks: number }>;
    /** Knowledge versions that answered questions in the window. */
    answeredWith: Array<{ version: number | null; questions: number }>;
  };
  messages: {
    inbound: number;
    /** Reply parts Twilio accepted. */
    outbound: number;
    senders: number;
    /** A sender's messages with no silence longer than 24 hours (WhatsApp's conversation window). */
    conversations: number;
    /** Inbound messages by how they were handled (answered, escalated, command, merged, …). */
    byStatus: Record<string, number>;
    staff: number;
  };
  questions: {
    /** Turns that went through the answer pipeline (answer_log). */
    total: number;
    answered: number;
    escalated: number;
    /** Share answered without escalation; null without questions. */
    coverage: number | null;
  };
  escalations: {
    /** 'escalations' when the escalation records exist, otherwise derived from answer_log. */
    source: 'escalations' | 'answer_log';
    total: number;
    /** Escalations per question asked. */
    rate: number | null;
    byCategory: Array<{ category: string; count: number; rate: number | null }>;
    /** From the escalation records, when they carry a status. */
    byStatus: Record<string, number> | null;
  };
  latency: {
    /** Turns with a sent reply: from the webhook receiving the first message to the first reply part sent. */
    turns: number;
    p50Ms: number | null;
    p95Ms: number | null;
    histogram: Array<{ label: string; fromMs: number; toMs: number | null; count: number }>;
  };
  failures: {
    /** Inbound messages whose processing failed. */
    inbound: number;
    /** Reply parts Twilio did not take. */
    outbound: number;
    /** Answers replaced by the safe fallback (pipeline failure). */
    fallbacks: number;
    /** Acknowledged messages still unanswered after 10 minutes. */
    stuck: number;
    recent: Array<{ at: string; where: 'inbound' | 'outbound' | 'answer'; error: string }>;
  };
  /** Questions that most often led to an escalation, grouped by normalised text: the knowledge gaps to fill first. */
  topEscalatedQuestions: Array<{ question: string; count: number; categories: string[]; lastAt: string }>;
  daily: DailyFigures[];
}

const LATENCY_BUCKETS: Array<[number, number | null, string]> = [
  [0, 1000, '< 1 s'],
  [1000, 2000, '1–2 s'],
  [2000, 3000, '2–3 s'],
  [3000, 5000, '3–5 s'],
  [5000, 10000, '5–10 s'],
  [10000, 20000, '10–20 s'],
  [20000, 60000, '20–60 s'],
  [60000, null, '≥ 60 s'],
];

/** Grouping key for questions: NFKC, lower case, accents, punctuation and extra spaces removed. */
export function normaliseQuestion(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

const iso = (d: Date | string) => new Date(d).toISOString();
const ratio = (a: number, b: number) => (b === 0 ? null : a / b);

async function tableColumns(db: Queryable, table: string): Promise<Set<string>> {
  const rows = await db.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = current_schema()`,
    [table],
  );
  return new Set(rows.map((r) => r.column_name));
}

function days(since: Date, until: Date): string[] {
  const out: string[] = [];
  const day = new Date(Date.UTC(since.getUTCFullYear(), since.getUTCMonth(), since.getUTCDate()));
  while (day < until) {
    out.push(day.toISOString().slice(0, 10));
    day.setUTCDate(day.getUTCDate() + 1);
  }
  return out;
}

export async function buildReport(db: Queryable, options: ReportOptions): Promise<ProductionReport> {
  const since = options.since;
  const until = options.until ?? new Date();
  const window = [since.toISOString(), until.toISOString()];
  const inWindow = (column: string) => `${column} >= $1::timestamptz AND ${column} < $2::timestamptz`;

  // ---- messages and conversations (staff numbers' messages are not patient traffic)
  const statusRows = await db.query<{ status: string; n: number }>(
    `SELECT status, count(*)::int AS n FROM inbound_messages WHERE ${inWindow('received_at')} GROUP BY status ORDER BY status`,
    window,
  );
  const byStatus = Object.fromEntries(statusRows.filter((r) => r.status !== 'staff').map((r) => [r.status, r.n]));
  const staff = statusRows.find((r) => r.status === 'staff')?.n ?? 0;
  const [people] = await db.query<{ senders: number; conversations: number }>(
    `SELECT count(DISTINCT sender_hash)::int AS senders,
            count(*) FILTER (WHERE gap IS NULL OR gap > interval '24 hours')::int AS conversations
       FROM (SELECT sender_hash, received_at - lag(received_at) OVER (PARTITION BY sender_hash ORDER BY received_at) AS gap
               FROM inbound_messages WHERE ${inWindow('received_at')} AND status <> 'staff') m`,
    window,
  );
  const [sent] = await db.query<{ sent: number; failed: number }>(
    `SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, count(*) FILTER (WHERE status = 'failed')::int AS failed
       FROM outbound_messages WHERE ${inWindow('created_at')}`,
    window,
  );

  // ---- questions and coverage (answer_log: one row per turn through the answer pipeline)
  const kinds = await db.query<{ kind: string; category: string | null; n: number }>(
    `SELECT kind, category, count(*)::int AS n FROM answer_log WHERE ${inWindow('created_at')} GROUP BY kind, category`,
    window,
  );
  const total = kinds.reduce((s, r) => s + r.n, 0);
  const answered = kinds.filter((r) => r.kind === 'answer').reduce((s, r) => s + r.n, 0);
  const fallbacks = kinds.filter((r) => r.kind === 'fallback').reduce((s, r) => s + r.n, 0);

  // ---- escalations: the escalation records when present (they include /human and staff-side ones)
  const escalationColumns = await tableColumns(db, 'escalations');
  let escalations: ProductionReport['escalations'];
  if (escalationColumns.has('category') && escalationColumns.has('created_at')) {
    const rows = await db.query<{ category: string; n: number }>(
      `SELECT coalesce(category, 'unknown') AS category, count(*)::int AS n FROM escalations WHERE ${inWindow('created_at')} GROUP BY 1 ORDER BY 2 DESC, 1`,
      window,
    );
    const statuses = escalationColumns.has('status')
      ? await db.query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM escalations WHERE ${inWindow('created_at')} GROUP BY 1 ORDER BY 1`, window)
      : null;
    const count = rows.reduce((s, r) => s + r.n, 0);
    escalations = {
      source: 'escalations',
      total: count,
      rate: ratio(count, total),
      byCategory: rows.map((r) => ({ category: r.category, count: r.n, rate: ratio(r.n, total) })),
      byStatus: statuses ? Object.fromEntries(statuses.map((s) => [s.status, s.n])) : null,
    };
  } else {
    const perCategory = new Map<string, number>();
    for (const r of kinds.filter((k) => k.kind !== 'answer')) {
      const category = r.category ?? (r.kind === 'fallback' ? 'failure' : 'unknown');
      perCategory.set(category, (perCategory.get(category) ?? 0) + r.n);
    }
    const count = total - answered;
    escalations = {
      source: 'answer_log',
      total: count,
      rate: ratio(count, total),
      byCategory: [...perCategory.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([category, n]) => ({ category, count: n, rate: ratio(n, total) })),
      byStatus: null,
    };
  }

  // ---- webhook → first reply part sent, per turn (a turn is keyed by its first message)
  const turns = await db.query<{ ms: number }>(
    `SELECT (extract(epoch FROM min(o.sent_at) - i.received_at) * 1000)::float8 AS ms
       FROM inbound_messages i JOIN outbound_messages o ON o.turn_sid = i.message_sid AND o.status = 'sent' AND o.sent_at IS NOT NULL
      WHERE ${inWindow('i.received_at')}
      GROUP BY i.message_sid, i.received_at`,
    window,
  );
  const latencies = turns.map((t) => Math.max(0, Math.round(Number(t.ms))));

  // ---- failures
  const [stuckRow] = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM inbound_messages WHERE ${inWindow('received_at')} AND status IN ('received', 'processing') AND received_at < $2::timestamptz - interval '10 minutes'`,
    window,
  );
  const recent = await db.query<{ at: Date; where: 'inbound' | 'outbound' | 'answer'; error: string }>(
    `SELECT at, "where", error FROM (
        SELECT coalesce(processed_at, received_at) AS at, 'inbound' AS "where", coalesce(error, outcome, 'failed') AS error FROM inbound_messages WHERE ${inWindow('received_at')} AND status = 'failed'
        UNION ALL
        SELECT created_at, 'outbound', coalesce(error, 'failed') FROM outbound_messages WHERE ${inWindow('created_at')} AND status = 'failed'
        UNION ALL
        SELECT created_at, 'answer', coalesce(reason, 'fallback') FROM answer_log WHERE ${inWindow('created_at')} AND kind = 'fallback'
      ) f ORDER BY at DESC LIMIT 10`,
    window,
  );

  // ---- the questions that most often led to an escalation (pipeline failures are not knowledge gaps)
  const escalatedQuestions = await db.query<{ question: string; category: string | null; created_at: Date }>(
    `SELECT question, category, created_at FROM answer_log WHERE ${inWindow('created_at')} AND kind = 'escalation' AND coalesce(category, '') <> 'failure' ORDER BY created_at`,
    window,
  );
  const groups = new Map<string, { question: string; count: number; categories: Set<string>; lastAt: Date; examples: Map<string, number> }>();
  for (const row of escalatedQuestions) {
    const key = normaliseQuestion(row.question);
    if (!key) continue;
    const group = groups.get(key) ?? { question: row.question, count: 0, categories: new Set<string>(), lastAt: row.created_at, examples: new Map() };
    group.count += 1;
    if (row.category) group.categories.add(row.category);
    group.lastAt = row.created_at;
    group.examples.set(row.question.trim(), (group.examples.get(row.question.trim()) ?? 0) + 1);
    groups.set(key, group);
  }
  const topEscalatedQuestions = [...groups.values()]
    .sort((a, b) => b.count - a.count || b.lastAt.getTime() - a.lastAt.getTime())
    .slice(0, options.topQuestions ?? 15)
    .map((g) => ({
      // The most frequent wording stands for the group.
      question: [...g.examples.entries()].sort((a, b) => b[1] - a[1])[0]![0],
      count: g.count,
      categories: [...g.categories].sort(),
      lastAt: iso(g.lastAt),
    }));

  // ---- knowledge in use
  const bases = await db.query<{ kb: string; current_version: string | null; activated_at: Date | null; documents: number; chunks: number }>(
    `SELECT b.name AS kb, b.current_version, v.activated_at,
            (SELECT count(*)::int FROM documents d WHERE d.kb = b.name AND d.added_in <= b.current_version AND (d.retired_in IS NULL OR d.retired_in > b.current_version)) AS documents,
            (SELECT count(*)::int FROM chunks c WHERE c.kb = b.name AND c.added_in <= b.current_version AND (c.retired_in IS NULL OR c.retired_in > b.current_version)) AS chunks
       FROM knowledge_bases b LEFT JOIN knowledge_versions v ON v.id = b.current_version
      WHERE b.name NOT LIKE 'eval-%'
      ORDER BY b.name`,
  );
  const answeredWith = await db.query<{ version: string | null; n: number }>(
    `SELECT knowledge_version AS version, count(*)::int AS n FROM answer_log WHERE ${inWindow('created_at')} GROUP BY 1 ORDER BY 1 DESC NULLS LAST`,
    window,
  );

  // ---- per UTC day
  const perDay = await db.query<{ day: string; inbound: number; outbound: number; questions: number; answered: number }>(
    `SELECT day, sum(inbound)::int AS inbound, sum(outbound)::int AS outbound, sum(questions)::int AS questions, sum(answered)::int AS answered FROM (
        SELECT to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, 1 AS inbound, 0 AS outbound, 0 AS questions, 0 AS answered
          FROM inbound_messages WHERE ${inWindow('received_at')} AND status <> 'staff'
        UNION ALL
        SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 0, 1, 0, 0 FROM outbound_messages WHERE ${inWindow('created_at')} AND status = 'sent'
        UNION ALL
        SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 0, 0, 1, CASE WHEN kind = 'answer' THEN 1 ELSE 0 END FROM answer_log WHERE ${inWindow('created_at')}
      ) x GROUP BY day`,
    window,
  );
  const byDay = new Map(perDay.map((d) => [d.day, d]));
  const daily = days(since, until).map((day): DailyFigures => {
    const d = byDay.get(day);
    const questions = d?.questions ?? 0;
    const ans = d?.answered ?? 0;
    return { day, inbound: d?.inbound ?? 0, outbound: d?.outbound ?? 0, questions, answered: ans, escalated: questions - ans, coverage: ratio(ans, questions), escalationRate: ratio(questions - ans, questions) };
  });

  return {
    generatedAt: new Date().toISOString(),
    since: since.toISOString(),
    until: until.toISOString(),
    knowledge: {
      bases: bases.map((b) => ({
        kb: b.kb,
        currentVersion: b.current_version == null ? null : Number(b.current_version),
        activatedAt: b.activated_at ? iso(b.activated_at) : null,
        documents: b.documents ?? 0,
        chunks: b.chunks ?? 0,
      })),
      answeredWith: answeredWith.map((r) => ({ version: r.version == null ? null : Number(r.version), questions: r.n })),
    },
    messages: {
      inbound: Object.values(byStatus).reduce((s, n) => s + n, 0),
      outbound: sent?.sent ?? 0,
      senders: people?.senders ?? 0,
      conversations: people?.conversations ?? 0,
      byStatus,
      staff,
    },
    questions: { total, answered, escalated: total - answered, coverage: ratio(answered, total) },
    escalations,
    latency: {
      turns: latencies.length,
      p50Ms: percentile(latencies, 50),
      p95Ms: percentile(latencies, 95),
      histogram: LATENCY_BUCKETS.map(([fromMs, toMs, label]) => ({ label, fromMs, toMs, count: latencies.filter((ms) => ms >= fromMs && (toMs === null || ms < toMs)).length })),
    },
    failures: {
      inbound: byStatus.failed ?? 0,
      outbound: sent?.failed ?? 0,
      fallbacks,
      stuck: stuckRow?.n ?? 0,
      recent: recent.map((r) => ({ at: iso(r.at), where: r.where, error: r.error.slice(0, 300) })),
    },
    topEscalatedQuestions,
    daily,
  };
}

/** `--since`: 7d, 24h, 2w, or a date (YYYY-MM-DD, UTC midnight). */
export function parseSince(value: string, now = new Date()): Date {
  const relative = /^(\d+)\s*([hdw])$/i.exec(value.trim());
  if (relative) {
    const hours = Number(relative[1]) * { h: 1, d: 24, w: 24 * 7 }[relative[2]!.toLowerCase() as 'h' | 'd' | 'w'];
    if (hours > 0) return new Date(now.getTime() - hours * 3_600_000);
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(value.trim())) {
    const date = new Date(`${value.trim()}T00:00:00Z`);
    if (!Number.isNaN(date.getTime()) && date < now) return date;
  }
  throw new RangeError(`--since "${value}": use a duration such as 24h, 7d or 2w, or a past date such as 2026-11-01`);
}
