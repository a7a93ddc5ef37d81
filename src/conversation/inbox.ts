/** SQL for the durable inbox (inbound messages), the outbox and the answer audit. */
import type { Queryable } from '../store/index.js';

export interface InboundMedia {
  url: string;
  contentType: string;
}

export interface InboundMessage {
  messageSid: string;
  channel: string;
  sender: string;
  senderHash: string;
  recipient: string;
  body: string;
  profileName: string | null;
  media: InboundMedia[];
  status: string;
  notifyRateLimit: boolean;
  receivedAt: Date;
  /** The turn a worker put this message in (set when processing starts). */
  turnSid?: string | null;
  /** The kind of reply already stored for the turn this message started (a retried turn re-sends it). */
  storedReplyKind?: string | null;
}

interface InboundRow {
  message_sid: string;
  channel: string;
  sender: string;
  sender_hash: string;
  recipient: string;
  body: string;
  profile_name: string | null;
  media: InboundMedia[] | string;
  status: string;
  notify_rate_limit: boolean;
  received_at: Date | string;
  turn_sid: string | null;
  stored_kind?: string | null;
}

const toMessage = (r: InboundRow): InboundMessage => ({
  messageSid: r.message_sid,
  channel: r.channel,
  sender: r.sender,
  senderHash: r.sender_hash,
  recipient: r.recipient,
  body: r.body,
  profileName: r.profile_name,
  media: typeof r.media === 'string' ? (JSON.parse(r.media) as InboundMedia[]) : r.media,
  status: r.status,
  notifyRateLimit: r.notify_rate_limit,
  receivedAt: new Date(r.received_at),
  turnSid: r.turn_sid,
  storedReplyKind: r.stored_kind ?? null,
});

/** Records a message once: returns false when this MessageSid was already recorded. */
export async function recordInbound(
  db: Queryable,
  m: Omit<InboundMessage, 'status' | 'receivedAt' | 'notifyRateLimit' | 'channel' | 'turnSid'> & { status?: 'received' | 'rate_limited'; notifyRateLimit?: boolean; channel?: string },
): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO inbound_messages (message_sid, channel, sender, sender_hash, recipient, body, profile_name, media, status, notify_rate_limit)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (message_sid) DO NOTHING RETURNING message_sid`,
    [m.messageSid, m.channel ?? 'whatsapp', m.sender, m.senderHash, m.recipient, m.body, m.profileName, JSON.stringify(m.media), m.status ?? 'received', m.notifyRateLimit ?? false],
  );
  return rows.length > 0;
}

export async function findInbound(db: Queryable, messageSid: string): Promise<InboundMessage | undefined> {
  const [row] = await db.query<InboundRow>('SELECT * FROM inbound_messages WHERE message_sid = $1', [messageSid]);
  return row ? toMessage(row) : undefined;
}

/**
 * Everything a worker has to do for a sender, in one statement: the unanswered messages
 * (oldest first, each with the kind of reply already stored for a turn a crashed worker had
 * started) and the over-limit messages still owed their one notice.
 */
export async function senderWork(db: Queryable, senderHash: string): Promise<{ pending: InboundMessage[]; rateLimitNotices: InboundMessage[] }> {
  const rows = await db.query<InboundRow>(
    `SELECT m.*, o.kind AS stored_kind
       FROM inbound_messages m
       LEFT JOIN LATERAL (SELECT kind FROM outbound_messages WHERE turn_sid = m.message_sid ORDER BY part LIMIT 1) o ON m.status = 'processing'
      WHERE m.sender_hash = $1 AND (m.status IN ('received', 'processing') OR (m.status = 'rate_limited' AND m.notify_rate_limit))
      ORDER BY m.received_at, m.message_sid`,
    [senderHash],
  );
  const messages = rows.map(toMessage);
  return { pending: messages.filter((m) => m.status !== 'rate_limited'), rateLimitNotices: messages.filter((m) => m.status === 'rate_limited') };
}

/** Senders with acknowledged but unanswered messages: resumed at start-up. */
export async function sendersWithPending(db: Queryable): Promise<Array<{ senderHash: string; messageSid: string }>> {
  return db.query<{ senderHash: string; messageSid: string }>(
    `SELECT DISTINCT ON (sender_hash) sender_hash AS "senderHash", message_sid AS "messageSid"
       FROM inbound_messages WHERE status IN ('received', 'processing') ORDER BY sender_hash, received_at`,
  );
}

export async function markProcessing(db: Queryable, sids: string[], turnSid: string): Promise<void> {
  await db.query(`UPDATE inbound_messages SET status = 'processing', turn_sid = $2, attempts = attempts + 1 WHERE message_sid = ANY($1::text[])`, [sids, turnSid]);
}

export async function markDone(db: Queryable, sids: string[], turnSid: string, status: string, outcome: string, error?: string): Promise<void> {
  await db.query(
    `UPDATE inbound_messages SET status = CASE WHEN message_sid = $2 THEN $3 ELSE 'merged' END, outcome = $4, error = $5, turn_sid = $2, processed_at = clock_timestamp()
      WHERE message_sid = ANY($1::text[])`,
    [sids, turnSid, status, outcome, error ?? null],
  );
}

export async function markRateLimitedDone(db: Queryable, messageSid: string): Promise<void> {
  await db.query(`UPDATE inbound_messages SET processed_at = clock_timestamp(), notify_rate_limit = false WHERE message_sid = $1`, [messageSid]);
}

/** Deletes everything stored about a sender's messages (/forget). */
export async function forgetSender(db: Queryable, senderHash: string): Promise<void> {
  await db.query('DELETE FROM answer_log WHERE sender_hash = $1', [senderHash]);
  await db.query('DELETE FROM outbound_messages WHERE recipient_hash = $1', [senderHash]);
  await db.query(`UPDATE inbound_messages SET body = '', media = '[]', profile_name = NULL, outcome = 'forgotten' WHERE sender_hash = $1`, [senderHash]);
}

export interface OutboundPart {
  turnSid: string;
  part: number;
  kind: string;
  recipient: string;
  recipientHash: string;
  body?: string;
  contentSid?: string;
}

export async function recordOutboundAttempt(db: Queryable, p: OutboundPart): Promise<void> {
  await recordOutboundAttempts(db, [p]);
}

/** Records every part of a reply before the first is sent (one statement). */
export async function recordOutboundAttempts(db: Queryable, parts: OutboundPart[]): Promise<void> {
  if (parts.length === 0) return;
  const columns = 7;
  await db.query(
    `INSERT INTO outbound_messages (turn_sid, part, kind, recipient, recipient_hash, body, content_sid, status)
     VALUES ${parts.map((_, i) => `(${Array.from({ length: columns }, (__, c) => `$${i * columns + c + 1}`).join(', ')}, 'sending')`).join(', ')}
     ON CONFLICT (turn_sid, part) DO UPDATE SET status = 'sending', body = EXCLUDED.body, error = NULL`,
    parts.flatMap((p) => [p.turnSid, p.part, p.kind, p.recipient, p.recipientHash, p.body ?? null, p.contentSid ?? null]),
  );
}

export async function recordOutboundResult(db: Queryable, turnSid: string, part: number, result: { twilioSid: string } | { error: string }): Promise<void> {
  if ('twilioSid' in result) {
    await db.query(`UPDATE outbound_messages SET status = 'sent', twilio_sid = $3, sent_at = clock_timestamp() WHERE turn_sid = $1 AND part = $2`, [turnSid, part, result.twilioSid]);
  } else {
    await db.query(`UPDATE outbound_messages SET status = 'failed', error = $3 WHERE turn_sid = $1 AND part = $2`, [turnSid, part, result.error]);
  }
}

export interface AnswerLogEntry {
  turnSid: string;
  senderHash: string;
  kind: string;
  category?: string;
  reason?: string;
  question: string;
  citations: unknown[];
  retrieved: unknown[];
  knowledgeVersion: number | null;
  model: string | null;
  timings: object;
}

export async function recordAnswer(db: Queryable, e: AnswerLogEntry): Promise<void> {
  await db.query(
    `INSERT INTO answer_log (turn_sid, sender_hash, kind, category, reason, question, citations, retrieved, knowledge_version, model, timings)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (turn_sid) DO NOTHING`,
    [e.turnSid, e.senderHash, e.kind, e.category ?? null, e.reason ?? null, e.question, JSON.stringify(e.citations), JSON.stringify(e.retrieved), e.knowledgeVersion, e.model, JSON.stringify(e.timings)],
  );
}
