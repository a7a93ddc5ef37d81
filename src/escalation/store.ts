/**
 * SQL for escalations, their notification jobs and handoffs. Every time comparison uses the
 * database clock (`now()`), so several processes agree on what is due.
 */
import { randomInt } from 'node:crypto';
import type { Queryable } from '../store/index.js';

export type EscalationStatus = 'open' | 'claimed' | 'resolved' | 'expired';
export type NotificationKind = 'new' | 'reminder' | 'failover' | 'event';

export interface EscalationRow {
  id: string;
  code: string;
  turn_sid: string;
  sender: string;
  sender_hash: string;
  category: string;
  reason: string;
  question: string;
  language: 'en' | 'es';
  last_turns: Array<{ role: 'user' | 'assistant'; content: string }>;
  sources: Array<{ source: string; heading: string; score?: number }>;
  status: EscalationStatus;
  claimed_by: string | null;
  claimed_at: Date | null;
  closed_by: string | null;
  closed_at: Date | null;
  last_user_message_at: Date;
  reminder_level: number;
  next_reminder_at: Date | null;
  created_at: Date;
}

export interface NotificationRow {
  id: string;
  escalation_id: string;
  kind: NotificationKind;
  channel: 'whatsapp' | 'webhook';
  target: string;
  contact_index: number | null;
  body: string;
  attempts: number;
  max_attempts: number;
}

export interface HandoffRow {
  id: string;
  sender_hash: string;
  escalation_id: string;
  staff: string;
  last_activity_at: Date;
}

export const escalationColumns = `id::text AS id, code, turn_sid, sender, sender_hash, category, reason, question, language, last_turns, sources, status,
  claimed_by, claimed_at, closed_by, closed_at, last_user_message_at, reminder_level, next_reminder_at, created_at`;

const json = <T>(value: T | string): T => (typeof value === 'string' ? (JSON.parse(value) as T) : value);

export function toEscalation(row: EscalationRow): EscalationRow {
  return { ...row, reminder_level: Number(row.reminder_level), last_turns: json(row.last_turns), sources: json(row.sources) };
}

/** E-4821: four digits while they last, then five, six… (codes are never reused). */
export function newCode(attempt: number): string {
  const digits = 4 + Math.floor(attempt / 8);
  return `E-${randomInt(10 ** (digits - 1), 10 ** digits)}`;
}

/** `#e4821`, `E-4821`, `4821` → `E-4821`. */
export function normaliseCode(raw: string): string {
  return `E-${raw.replace(/^#?\s*e?-?/i, '')}`;
}

export interface NewEscalation {
  turnSid: string;
  sender: string;
  senderHash: string;
  category: string;
  reason: string;
  question: string;
  language: string;
  lastTurns: unknown[];
  sources: unknown[];
  /** Minutes until the first reminder; undefined = no reminders (nobody to remind). */
  reminderInMinutes: number | undefined;
}

/** Inserts once per turn: undefined when this turn already has an escalation. */
export async function insertEscalation(tx: Queryable, e: NewEscalation): Promise<EscalationRow | undefined> {
  for (let attempt = 0; attempt < 48; attempt += 1) {
    const [row] = await tx.query<EscalationRow>(
      `INSERT INTO escalations (code, turn_sid, sender, sender_hash, category, reason, question, language, last_turns, sources, next_reminder_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $11::int IS NULL THEN NULL ELSE now() + $11::int * interval '1 minute' END)
       ON CONFLICT DO NOTHING RETURNING ${escalationColumns}`,
      [newCode(attempt), e.turnSid, e.sender, e.senderHash, e.category, e.reason, e.question, e.language, JSON.stringify(e.lastTurns), JSON.stringify(e.sources), e.reminderInMinutes ?? null],
    );
    if (row) return toEscalation(row);
    const existing = await tx.query('SELECT 1 FROM escalations WHERE turn_sid = $1', [e.turnSid]);
    if (existing.length > 0) return undefined; // a retried or duplicated turn: already recorded and notified
  }
  throw new Error('could not find a free escalation code');
}

export async function findByCode(db: Queryable, code: string): Promise<EscalationRow | undefined> {
  const [row] = await db.query<EscalationRow>(`SELECT ${escalationColumns} FROM escalations WHERE code = $1`, [code]);
  return row ? toEscalation(row) : undefined;
}

export async function findById(db: Queryable, id: string): Promise<EscalationRow | undefined> {
  const [row] = await db.query<EscalationRow>(`SELECT ${escalationColumns} FROM escalations WHERE id = $1`, [id]);
  return row ? toEscalation(row) : undefined;
}

export interface NewNotification {
  escalationId: string;
  dedupeKey: string;
  kind: NotificationKind;
  channel: 'whatsapp' | 'webhook';
  target: string;
  contactIndex?: number;
  body: string;
  maxAttempts: number;
}

export async function enqueueNotification(tx: Queryable, n: NewNotification): Promise<void> {
  await tx.query(
    `INSERT INTO escalation_notifications (escalation_id, dedupe_key, kind, channel, target, contact_index, body, max_attempts)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dedupe_key) DO NOTHING`,
    [n.escalationId, n.dedupeKey, n.kind, n.channel, n.target, n.contactIndex ?? null, n.body, n.maxAttempts],
  );
}

/** Takes a batch of due jobs with a lease: a crashed sender's job is taken again when the lease ends. */
export async function claimDueNotifications(db: Queryable, limit: number, leaseSeconds: number): Promise<NotificationRow[]> {
  const rows = await db.query<NotificationRow>(
    `UPDATE escalation_notifications SET status = 'sending', attempts = attempts + 1, locked_until = now() + $2::int * interval '1 second'
      WHERE id IN (
        SELECT id FROM escalation_notifications
         WHERE (status = 'pending' AND next_attempt_at <= now()) OR (status = 'sending' AND locked_until < now())
         ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
      RETURNING id::text AS id, escalation_id::text AS escalation_id, kind, channel, target, contact_index, body, attempts, max_attempts`,
    [limit, leaseSeconds],
  );
  return rows.map((r) => ({ ...r, attempts: Number(r.attempts), max_attempts: Number(r.max_attempts), contact_index: r.contact_index === null ? null : Number(r.contact_index) }));
}

export async function markNotificationSent(db: Queryable, id: string, result: { deliveredAs: string; twilioSid?: string; note?: string }): Promise<void> {
  await db.query(
    `UPDATE escalation_notifications SET status = 'sent', sent_at = now(), locked_until = NULL, delivered_as = $2, twilio_sid = $3,
        errors = CASE WHEN $4::text IS NULL THEN errors ELSE errors || jsonb_build_array(jsonb_build_object('at', now(), 'attempt', attempts, 'error', $4::text)) END
      WHERE id = $1`,
    [id, result.deliveredAs, result.twilioSid ?? null, result.note ?? null],
  );
}

/** Records a failed attempt: retried after `retryInSeconds`, or failed for good when undefined. */
export async function markNotificationFailed(db: Queryable, id: string, error: string, retryInSeconds: number | undefined): Promise<void> {
  await db.query(
    `UPDATE escalation_notifications
        SET status = CASE WHEN $3::float8 IS NULL THEN 'failed' ELSE 'pending' END,
            next_attempt_at = CASE WHEN $3::float8 IS NULL THEN next_attempt_at ELSE now() + $3::float8 * interval '1 second' END,
            locked_until = NULL, last_error = $2,
            errors = errors || jsonb_build_array(jsonb_build_object('at', now(), 'attempt', attempts, 'error', $2::text))
      WHERE id = $1`,
    [id, error, retryInSeconds ?? null],
  );
}

/** When the user last wrote to us, and whether that is more than 24 h ago (WhatsApp's window). */
export async function userWindow(db: Queryable, senderHash: string): Promise<{ closed: boolean; ageSeconds: number | null }> {
  const [row] = await db.query<{ age: number | null }>(
    `SELECT extract(epoch FROM now() - max(received_at))::float8 AS age FROM inbound_messages WHERE sender_hash = $1`,
    [senderHash],
  );
  const age = row?.age === null || row?.age === undefined ? null : Number(row.age);
  return { closed: age !== null && age > 24 * 3600, ageSeconds: age };
}

/** A template already went out since the user last wrote: another one would only be noise. */
export async function templateAwaitingReply(db: Queryable, senderHash: string): Promise<boolean> {
  const rows = await db.query(
    `SELECT 1 FROM outbound_messages
      WHERE recipient_hash = $1 AND kind = 'relay_template' AND status = 'sent'
        AND created_at > coalesce((SELECT max(received_at) FROM inbound_messages WHERE sender_hash = $1), '-infinity'::timestamptz)
      LIMIT 1`,
    [senderHash],
  );
  return rows.length > 0;
}

/** The user's handoff, if a staff member has their conversation; touches their open escalations. */
export async function touchAndFindHandoff(db: Queryable, senderHash: string): Promise<(HandoffRow & { code: string; sender: string }) | undefined> {
  const [row] = await db.query<HandoffRow & { code: string; sender: string }>(
    `WITH touched AS (
       UPDATE escalations SET last_user_message_at = now() WHERE sender_hash = $1 AND status IN ('open', 'claimed') RETURNING 1
     ), active AS (
       UPDATE handoffs SET last_activity_at = now() WHERE sender_hash = $1
       RETURNING id::text AS id, sender_hash, escalation_id::text AS escalation_id, staff, last_activity_at
     )
     SELECT a.*, e.code, e.sender FROM active a JOIN escalations e ON e.id = a.escalation_id::bigint`,
    [senderHash],
  );
  return row;
}

export async function findHandoff(db: Queryable, senderHash: string): Promise<HandoffRow | undefined> {
  const [row] = await db.query<HandoffRow>(
    'SELECT id::text AS id, sender_hash, escalation_id::text AS escalation_id, staff, last_activity_at FROM handoffs WHERE sender_hash = $1',
    [senderHash],
  );
  return row;
}

export async function touchHandoff(db: Queryable, senderHash: string): Promise<void> {
  await db.query('UPDATE handoffs SET last_activity_at = now() WHERE sender_hash = $1', [senderHash]);
}

export type ClaimResult = { outcome: 'claimed' | 'already'; claimed: EscalationRow[] } | { outcome: 'taken'; by: string };

/**
 * Gives `staff` the user's conversation: a handoff row (one per user) and the escalation (with
 * any other open escalation of the same user) marked claimed. Refused when another staff
 * member has the conversation.
 */
export async function claim(tx: Queryable, escalation: EscalationRow, staff: string): Promise<ClaimResult> {
  const inserted = await tx.query(
    `INSERT INTO handoffs (sender_hash, escalation_id, staff) VALUES ($1, $2, $3) ON CONFLICT (sender_hash) DO NOTHING RETURNING id`,
    [escalation.sender_hash, escalation.id, staff],
  );
  if (inserted.length === 0) {
    const [current] = await tx.query<{ staff: string }>('SELECT staff FROM handoffs WHERE sender_hash = $1 FOR UPDATE', [escalation.sender_hash]);
    if (current && current.staff !== staff) return { outcome: 'taken', by: current.staff };
    await tx.query('UPDATE handoffs SET escalation_id = $2, last_activity_at = now() WHERE sender_hash = $1', [escalation.sender_hash, escalation.id]);
  }
  const claimed = await tx.query<EscalationRow>(
    `UPDATE escalations SET status = 'claimed', claimed_by = $3, claimed_at = now(), closed_by = NULL, closed_at = NULL, next_reminder_at = NULL, updated_at = now()
      WHERE (id = $1 OR (sender_hash = $2 AND status = 'open')) AND NOT (status = 'claimed' AND claimed_by = $3)
      RETURNING ${escalationColumns}`,
    [escalation.id, escalation.sender_hash, staff],
  );
  const rows = claimed.map(toEscalation);
  return { outcome: rows.some((r) => r.id === escalation.id) ? 'claimed' : 'already', claimed: rows };
}

/** Ends the user's handoff (if any) and closes their claimed escalations plus `escalation`. */
export async function closeConversation(
  tx: Queryable,
  escalation: Pick<EscalationRow, 'id' | 'sender_hash'>,
  status: 'resolved' | 'expired',
  by: string,
): Promise<{ handoff: HandoffRow | undefined; closed: EscalationRow[] }> {
  const [handoff] = await tx.query<HandoffRow>(
    'DELETE FROM handoffs WHERE sender_hash = $1 RETURNING id::text AS id, sender_hash, escalation_id::text AS escalation_id, staff, last_activity_at',
    [escalation.sender_hash],
  );
  const closed = await tx.query<EscalationRow>(
    `UPDATE escalations SET status = $3, closed_by = $4, closed_at = now(), next_reminder_at = NULL, updated_at = now()
      WHERE (id = $1 AND status IN ('open', 'claimed')) OR (sender_hash = $2 AND status = 'claimed')
      RETURNING ${escalationColumns}`,
    [escalation.id, escalation.sender_hash, status, by],
  );
  return { handoff, closed: closed.map(toEscalation) };
}

/** Open and claimed escalations, newest first. */
export async function listActive(db: Queryable, limit: number): Promise<{ rows: Array<EscalationRow & { age_seconds: number }>; total: number }> {
  const rows = await db.query<EscalationRow & { age_seconds: number }>(
    `SELECT ${escalationColumns}, extract(epoch FROM now() - created_at)::float8 AS age_seconds
       FROM escalations WHERE status IN ('open', 'claimed') ORDER BY created_at DESC LIMIT $1`,
    [limit],
  );
  const [count] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM escalations WHERE status IN ('open', 'claimed')`);
  return { rows: rows.map((r) => ({ ...toEscalation(r), age_seconds: Number(r.age_seconds) })), total: Number(count?.n ?? 0) };
}

/**
 * /forget: erases the text escalations kept about a user (their question, last turns, the
 * notifications and forwards staff were sent). Codes, categories and timestamps stay for the audit.
 */
export async function forgetSender(tx: Queryable, senderHash: string): Promise<void> {
  await tx.query(
    `UPDATE outbound_messages SET body = NULL
      WHERE turn_sid IN (SELECT 'forward:' || message_sid FROM inbound_messages WHERE sender_hash = $1)
         OR turn_sid IN (SELECT 'notification:' || n.id FROM escalation_notifications n JOIN escalations e ON e.id = n.escalation_id WHERE e.sender_hash = $1)`,
    [senderHash],
  );
  await tx.query(
    `UPDATE escalation_notifications SET body = '{"erased":"at the user''s request"}'
      WHERE escalation_id IN (SELECT id FROM escalations WHERE sender_hash = $1) AND status IN ('sent', 'failed')`,
    [senderHash],
  );
  await tx.query(`UPDATE escalations SET question = '', reason = 'erased at the user''s request', last_turns = '[]', sources = '[]', updated_at = now() WHERE sender_hash = $1`, [senderHash]);
}
