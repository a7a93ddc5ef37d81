/**
 * Escalation that reaches a human. `escalate` records each escalation once per turn and
 * queues its notifications; `tick` (a timer in every server/worker process, or called by
 * tests) delivers due notifications with retries and fail-over, sends SLA reminders, and
 * hands idle conversations back to the assistant; `handleStaffMessage` turns messages from
 * staff phones into commands; `relayIfHandedOff` forwards a claimed user's messages to staff.
 */
import { randomUUID } from 'node:crypto';
import type { MessagingClient, OutboundContent } from '../channels/twilio/client.js';
import { splitMessage } from '../channels/twilio/format.js';
import { allStaffAddresses, type Config, type StaffCategory } from '../config/index.js';
import type { EscalationRequest, InboundMessage } from '../conversation/index.js';
import { AppError, ErrorIds, describeError, isAppError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { Database, Queryable } from '../store/index.js';
import { deliverOnce, isWindowClosed, recordNotSent } from './outbox.js';
import { signWebhook } from './signature.js';
import {
  claim,
  claimDueNotifications,
  closeConversation,
  forgetSender,
  enqueueNotification,
  escalationColumns,
  findByCode,
  findById,
  insertEscalation,
  listActive,
  markNotificationFailed,
  markNotificationSent,
  normaliseCode,
  templateAwaitingReply,
  toEscalation,
  touchAndFindHandoff,
  userWindow,
  type EscalationRow,
  type HandoffRow,
  type NotificationRow,
} from './store.js';
import { phone, staffTexts, userTexts, type OrgTexts } from './texts.js';

export interface EscalationDeps {
  db: Database;
  messaging: MessagingClient;
  logger: Logger;
  organisation: OrgTexts;
  settings: Config['escalation'];
}

export interface EscalationOptions {
  /** How often due work is looked for (ms); 0 = no timer (tests call `tick()`). Default 5000. */
  pollIntervalMs?: number;
  /** Deliver a new escalation's notifications at once instead of at the next poll. Default true. */
  deliverImmediately?: boolean;
  /** First retry delay of a failed notification (ms), doubled each attempt. Default 15000. */
  retryBaseMs?: number;
  /** Attempts per notification before it counts as failed (urgent → next contact). Default 4. */
  maxAttempts?: number;
  /** SLA reminders per escalation at most. Default 3. */
  maxReminders?: number;
  /** An escalation nobody claimed closes as expired this long after the user last wrote. Default 24. */
  unclaimedExpiryHours?: number;
  webhookTimeoutMs?: number;
  fetch?: typeof fetch;
}

export interface TickSummary {
  delivered: number;
  retrying: number;
  failed: number;
  reminders: number;
  handedBack: number;
  expired: number;
}

export interface EscalationService {
  /** True when escalations reach someone (staff numbers or the webhook). */
  readonly staffOnDuty: boolean;
  /** The EscalationSink: records the escalation (once per turn) and queues the notifications. */
  escalate(request: EscalationRequest): Promise<void>;
  /** True (and handled) when the message comes from a staff phone. */
  handleStaffMessage(message: InboundMessage): Promise<boolean>;
  /** True (and forwarded to the staff member) while a human has this user's conversation. */
  relayIfHandedOff(message: InboundMessage): Promise<boolean>;
  isStaff(address: string): boolean;
  /** /forget: erases the text kept in this user's escalations and staff notifications. */
  forget(senderHash: string): Promise<void>;
  /** Does everything that is due now; calls are serialised, so awaiting one sees all earlier work done. */
  tick(): Promise<TickSummary>;
  /** Starts the timer (and delivers anything left over from before a restart). */
  start(): void;
  close(): Promise<void>;
}

const STAFF_PART = 100; // parts of a staff message's turn sent back to staff; 0… go to the user
const TEMPLATE_OFFSET = 50; // the template sent instead of parts that hit a closed window

const toWhatsApp = (address: string) => (address.startsWith('whatsapp:') ? address : `whatsapp:${address}`);
const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

export function createEscalationService(deps: EscalationDeps, options: EscalationOptions = {}): EscalationService {
  const { db, messaging, logger, settings, organisation: org } = deps;
  const o = {
    pollIntervalMs: options.pollIntervalMs ?? 5000,
    deliverImmediately: options.deliverImmediately ?? true,
    retryBaseMs: options.retryBaseMs ?? 15_000,
    maxAttempts: options.maxAttempts ?? 4,
    maxReminders: options.maxReminders ?? 3,
    unclaimedExpiryHours: options.unclaimedExpiryHours ?? 24,
    webhookTimeoutMs: options.webhookTimeoutMs ?? 10_000,
    fetch: options.fetch ?? globalThis.fetch,
  };
  const staff = new Set(allStaffAddresses(settings.staff));
  const staffOnDuty = staff.size > 0 || settings.webhook !== undefined;
  const contactsFor = (category: string): string[] => settings.staff.byCategory[category as StaffCategory] ?? settings.staff.default;
  const isStaff = (address: string) => staff.has(toWhatsApp(address));

  const templateContent = (code: string): OutboundContent => ({ contentSid: settings.templateSid!, contentVariables: { '1': org.name, '2': code } });

  // ------------------------------------------------------------------------------------
  // Queuing notifications (inside the transaction that changes the escalation)
  // ------------------------------------------------------------------------------------

  function webhookPayload(event: string, e: EscalationRow, text: string): string {
    return JSON.stringify({
      event,
      id: randomUUID(),
      occurredAt: new Date().toISOString(),
      escalation: {
        code: e.code,
        category: e.category,
        reason: e.reason,
        status: e.status,
        user: phone(e.sender),
        language: e.language,
        question: e.question,
        lastMessages: e.last_turns,
        sources: e.sources,
        createdAt: new Date(e.created_at).toISOString(),
        claimedBy: e.claimed_by ? phone(e.claimed_by) : null,
        closedBy: e.closed_by ? (e.closed_by.startsWith('whatsapp:') ? phone(e.closed_by) : e.closed_by) : null,
        reminderLevel: e.reminder_level,
      },
      // Slack-style incoming webhooks show `text`.
      text,
    });
  }

  async function queueWebhook(tx: Queryable, e: EscalationRow, event: string, text: string, dedupeKey: string, kind: NotificationRow['kind']): Promise<void> {
    if (!settings.webhook) return;
    await enqueueNotification(tx, { escalationId: e.id, dedupeKey, kind, channel: 'webhook', target: settings.webhook.url, body: webhookPayload(event, e, text), maxAttempts: o.maxAttempts });
  }

  async function queueStaffMessages(tx: Queryable, e: EscalationRow, kind: 'new' | 'reminder'): Promise<void> {
    const contacts = contactsFor(e.category);
    const level = kind === 'new' ? 0 : e.reminder_level;
    const text = kind === 'new' ? staffTexts.newEscalation(e) : staffTexts.reminder(e, settings.slaMinutes * level);
    if (contacts.length > 0) {
      // The first contact gets the escalation; each reminder goes to the next one in the list.
      const index = level % contacts.length;
      await enqueueNotification(tx, { escalationId: e.id, dedupeKey: `${e.id}:${kind}:${level}:whatsapp`, kind, channel: 'whatsapp', target: contacts[index]!, contactIndex: index, body: text, maxAttempts: o.maxAttempts });
    }
    await queueWebhook(tx, e, kind === 'new' ? 'escalation.created' : 'escalation.reminder', text, `${e.id}:${kind}:${level}:webhook`, kind);
  }

  async function queueStatusEvents(tx: Queryable, rows: EscalationRow[]): Promise<void> {
    for (const e of rows) {
      const by = e.status === 'claimed' ? e.claimed_by : e.closed_by;
      const who = by ? (by.startsWith('whatsapp:') ? ` by ${phone(by)}` : ` (${by})`) : '';
      await queueWebhook(tx, e, `escalation.${e.status}`, `${e.code} ${e.status}${who}`, `${e.id}:${e.status}:${randomUUID()}`, 'event');
    }
  }

  // ------------------------------------------------------------------------------------
  // The sink
  // ------------------------------------------------------------------------------------

  let kickScheduled = false;
  function kick(): void {
    if (!o.deliverImmediately || closed || kickScheduled) return;
    kickScheduled = true;
    setImmediate(() => {
      kickScheduled = false;
      void tick();
    });
  }

  async function escalate(request: EscalationRequest): Promise<void> {
    const remindable = contactsFor(request.category).length > 0 || settings.webhook !== undefined;
    const created = await db.transaction(async (tx) => {
      const row = await insertEscalation(tx, {
        turnSid: request.turnSid,
        sender: request.sender,
        senderHash: request.senderHash,
        category: request.category,
        reason: request.reason,
        question: clip(request.question, 2000),
        language: request.language,
        lastTurns: request.history.slice(-6).map((t) => ({ role: t.role, content: clip(t.content, 500) })),
        sources: request.retrieved.slice(0, 5),
        reminderInMinutes: remindable ? settings.slaMinutes : undefined,
      });
      if (row) await queueStaffMessages(tx, row, 'new');
      return row;
    });
    if (!created) {
      logger.info({ senderId: request.senderHash, turn: request.turnSid }, 'escalation already recorded for this turn: not notifying again');
      return;
    }
    logger.info({ senderId: request.senderHash, escalation: created.code, category: created.category, staffOnDuty }, 'escalation recorded');
    kick();
  }

  // ------------------------------------------------------------------------------------
  // Sending
  // ------------------------------------------------------------------------------------

  /** A message to a staff phone; if their own 24-hour window is closed, the template invites them back. */
  async function sendToStaff(turnSid: string, firstPart: number, to: string, text: string, kind: string, code: string | undefined): Promise<{ sid: string; deliveredAs: 'text' | 'template' }> {
    try {
      let sid = '';
      for (const [i, body] of splitMessage(text).entries()) sid = (await deliverOnce(db, messaging, { turnSid, part: firstPart + i, kind, to, content: { body } })).sid;
      return { sid, deliveredAs: 'text' };
    } catch (error) {
      if (!isWindowClosed(error) || !settings.templateSid || !code) throw error;
      const { sid } = await deliverOnce(db, messaging, { turnSid, part: firstPart + TEMPLATE_OFFSET, kind: 'staff_template', to, content: templateContent(code) });
      return { sid, deliveredAs: 'template' };
    }
  }

  /** Best effort: an informational notice (hand-back) that fails is logged, never retried forever. */
  async function notify(turnSid: string, part: number, to: string, text: string, kind: string, code: string): Promise<void> {
    try {
      await sendToStaff(turnSid, part, to, text, kind, kind.startsWith('staff') ? code : undefined);
    } catch (error) {
      logger.warn({ escalation: code, kind, error: describeError(error) }, 'notice could not be delivered');
    }
  }

  async function postWebhook(n: NotificationRow): Promise<void> {
    if (!settings.webhook) throw new AppError(ErrorIds.staffNotifyFailed, 'STAFF_WEBHOOK_URL is no longer configured');
    const timestamp = String(Math.floor(Date.now() / 1000));
    let response: Response;
    try {
      response = await o.fetch(n.target, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Groundline-Escalations/1',
          'x-groundline-timestamp': timestamp,
          'x-groundline-signature': signWebhook(settings.webhook.secret, timestamp, n.body),
          'x-groundline-delivery': n.id,
          'x-groundline-event': (JSON.parse(n.body) as { event: string }).event,
        },
        body: n.body,
        signal: AbortSignal.timeout(o.webhookTimeoutMs),
      });
    } catch (cause) {
      throw new AppError(ErrorIds.staffNotifyFailed, `staff webhook unreachable: ${(cause as Error).message}`, { cause, retryable: true });
    }
    await response.arrayBuffer().catch(() => undefined);
    if (!response.ok) throw new AppError(ErrorIds.staffNotifyFailed, `staff webhook answered HTTP ${response.status}`, { context: { status: response.status }, retryable: true });
  }

  async function deliverNotification(n: NotificationRow): Promise<'sent' | 'retrying' | 'failed'> {
    const e = await findById(db, n.escalation_id);
    try {
      if (n.channel === 'webhook') {
        await postWebhook(n);
        await markNotificationSent(db, n.id, { deliveredAs: 'webhook' });
      } else {
        const result = await sendToStaff(`notification:${n.id}`, 0, n.target, n.body, `staff_${n.kind}`, e?.code);
        await markNotificationSent(db, n.id, {
          deliveredAs: result.deliveredAs,
          twilioSid: result.sid,
          note: result.deliveredAs === 'template' ? "the staff phone's 24-hour window was closed: sent the template instead" : undefined,
        });
      }
      return 'sent';
    } catch (error) {
      const retryable = isAppError(error) ? error.retryable : true;
      const final = !retryable || n.attempts >= n.max_attempts;
      const retryIn = (o.retryBaseMs / 1000) * 2 ** (n.attempts - 1);
      await markNotificationFailed(db, n.id, describeError(error).message, final ? undefined : retryIn);
      logger[final ? 'error' : 'warn'](
        { escalation: e?.code, notification: n.id, channel: n.channel, attempt: n.attempts, final, error: describeError(error) },
        final ? 'staff notification failed for good' : 'staff notification failed; will retry',
      );
      if (final && e) await failOver(n, e);
      return final ? 'failed' : 'retrying';
    }
  }

  /** An urgent escalation that could not reach a contact goes to the next one in the list. */
  async function failOver(n: NotificationRow, e: EscalationRow): Promise<void> {
    if (n.channel !== 'whatsapp' || e.category !== 'urgent' || e.status !== 'open' || (n.kind !== 'new' && n.kind !== 'failover')) return;
    const contacts = contactsFor(e.category);
    const next = (n.contact_index ?? 0) + 1;
    if (next >= contacts.length) {
      logger.error({ escalation: e.code }, 'urgent escalation reached no staff contact: check STAFF_NUMBERS and Twilio');
      return;
    }
    await enqueueNotification(db, { escalationId: e.id, dedupeKey: `${e.id}:failover:${next}`, kind: 'failover', channel: 'whatsapp', target: contacts[next]!, contactIndex: next, body: staffTexts.failover(e), maxAttempts: o.maxAttempts });
  }

  // ------------------------------------------------------------------------------------
  // What is due: idle hand-backs, unclaimed expiry, SLA reminders, notifications
  // ------------------------------------------------------------------------------------

  async function handBack(handoff: HandoffRow, closedRows: EscalationRow[], reason: 'idle' | { by: string }): Promise<void> {
    const e = closedRows.find((r) => r.id === handoff.escalation_id) ?? closedRows[0] ?? (await findById(db, handoff.escalation_id));
    if (!e) return;
    const turnSid = `handoff:${handoff.id}:end`;
    const userText = reason === 'idle' ? userTexts.idle(e.language, org) : userTexts.handedBack(e.language, org);
    await notify(turnSid, 0, e.sender, userText, 'handoff_notice', e.code);
    if (reason === 'idle') await notify(turnSid, 1, handoff.staff, staffTexts.idle(e.code, settings.handoffIdleMinutes), 'staff_notice', e.code);
    else if (reason.by !== handoff.staff) await notify(turnSid, 1, handoff.staff, staffTexts.handedBackBy(e.code, reason.by), 'staff_notice', e.code);
  }

  async function expireIdleHandoffs(): Promise<number> {
    const due = await db.query<{ sender_hash: string; escalation_id: string }>(
      `SELECT sender_hash, escalation_id::text AS escalation_id FROM handoffs WHERE last_activity_at <= now() - $1::int * interval '1 minute' ORDER BY last_activity_at LIMIT 50`,
      [settings.handoffIdleMinutes],
    );
    let count = 0;
    for (const d of due) {
      const result = await db.transaction(async (tx) => {
        const still = await tx.query(`SELECT 1 FROM handoffs WHERE sender_hash = $1 AND last_activity_at <= now() - $2::int * interval '1 minute' FOR UPDATE`, [d.sender_hash, settings.handoffIdleMinutes]);
        if (still.length === 0) return undefined; // someone wrote meanwhile
        const closedNow = await closeConversation(tx, { id: d.escalation_id, sender_hash: d.sender_hash }, 'expired', 'idle');
        await queueStatusEvents(tx, closedNow.closed);
        return closedNow;
      });
      if (!result?.handoff) continue;
      count += 1;
      logger.info({ senderId: d.sender_hash, escalations: result.closed.map((r) => r.code) }, 'idle handoff: conversation back with the assistant');
      await handBack(result.handoff, result.closed, 'idle');
    }
    return count;
  }

  async function expireUnclaimed(): Promise<number> {
    return db.transaction(async (tx) => {
      const rows = await tx.query<EscalationRow>(
        `UPDATE escalations SET status = 'expired', closed_by = 'unclaimed', closed_at = now(), next_reminder_at = NULL, updated_at = now()
          WHERE status = 'open' AND last_user_message_at < now() - $1::int * interval '1 hour' RETURNING ${escalationColumns}`,
        [o.unclaimedExpiryHours],
      );
      const expired = rows.map(toEscalation);
      await queueStatusEvents(tx, expired);
      if (expired.length > 0) logger.warn({ escalations: expired.map((r) => r.code) }, 'escalations expired unclaimed');
      return expired.length;
    });
  }

  async function sendReminders(): Promise<number> {
    const due = await db.query<{ id: string; reminder_level: number }>(
      `SELECT id::text AS id, reminder_level FROM escalations WHERE status = 'open' AND next_reminder_at <= now() ORDER BY next_reminder_at LIMIT 50`,
    );
    let count = 0;
    for (const d of due) {
      const sent = await db.transaction(async (tx) => {
        const [row] = await tx.query<EscalationRow>(
          `UPDATE escalations SET reminder_level = reminder_level + 1, updated_at = now(),
                  next_reminder_at = CASE WHEN reminder_level + 1 >= $3 THEN NULL ELSE now() + $4::int * interval '1 minute' END
            WHERE id = $1 AND reminder_level = $2 AND status = 'open' RETURNING ${escalationColumns}`,
          [d.id, d.reminder_level, o.maxReminders, settings.slaMinutes],
        );
        if (!row) return false; // claimed, or another process reminded first
        await queueStaffMessages(tx, toEscalation(row), 'reminder');
        return true;
      });
      if (sent) count += 1;
    }
    return count;
  }

  async function deliverDue(summary: TickSummary): Promise<void> {
    for (let round = 0; round < 5; round += 1) {
      const batch = await claimDueNotifications(db, 25, 120);
      if (batch.length === 0) return;
      for (const n of batch) {
        const outcome = await deliverNotification(n);
        if (outcome === 'sent') summary.delivered += 1;
        else if (outcome === 'retrying') summary.retrying += 1;
        else summary.failed += 1;
      }
    }
  }

  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<unknown> = Promise.resolve();

  async function step(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      logger.error({ error: describeError(error) }, `escalation ${what} failed; will try again on the next tick`);
    }
  }

  async function runDue(): Promise<TickSummary> {
    const summary: TickSummary = { delivered: 0, retrying: 0, failed: 0, reminders: 0, handedBack: 0, expired: 0 };
    if (closed) return summary;
    await step('idle hand-back', async () => void (summary.handedBack = await expireIdleHandoffs()));
    await step('expiry', async () => void (summary.expired = await expireUnclaimed()));
    await step('reminders', async () => void (summary.reminders = await sendReminders()));
    await step('delivery', () => deliverDue(summary));
    return summary;
  }

  function tick(): Promise<TickSummary> {
    const run = chain.then(runDue, runDue);
    chain = run.catch(() => undefined);
    return run;
  }

  // ------------------------------------------------------------------------------------
  // Handoff: the user's side
  // ------------------------------------------------------------------------------------

  async function relayIfHandedOff(message: InboundMessage): Promise<boolean> {
    const handoff = await touchAndFindHandoff(db, message.senderHash);
    if (!handoff) return false;
    try {
      await sendToStaff(`forward:${message.messageSid}`, 0, handoff.staff, staffTexts.forward(handoff, message.body, message.media.length > 0), 'staff_forward', handoff.code);
    } catch (error) {
      logger.error({ senderId: message.senderHash, escalation: handoff.code, error: describeError(error) }, 'could not forward the user message to staff');
      if (isAppError(error) ? error.retryable : true) throw error; // the queue retries; parts already sent are skipped
    }
    return true;
  }

  // ------------------------------------------------------------------------------------
  // Staff commands
  // ------------------------------------------------------------------------------------

  async function relayToUser(e: EscalationRow, turnSid: string, text: string): Promise<string | undefined> {
    const window = await userWindow(db, e.sender_hash);
    const body = userTexts.relay(e.language, org, text);
    if (!window.closed) {
      try {
        for (const [i, part] of splitMessage(body).entries()) await deliverOnce(db, messaging, { turnSid, part: i, kind: 'relay', to: e.sender, content: { body: part } });
        return undefined;
      } catch (error) {
        if (!isWindowClosed(error)) {
          logger.warn({ escalation: e.code, error: describeError(error) }, 'relay to the user failed');
          return staffTexts.sendFailed(e, describeError(error).message);
        }
      }
    } else {
      await recordNotSent(db, { turnSid, part: 0, kind: 'relay', to: e.sender, body, reason: "not sent: the user's 24-hour WhatsApp window is closed" });
    }
    // The 24-hour window is closed (by our clock, or Twilio said 63016).
    const ageSeconds = window.closed ? window.ageSeconds : null;
    if (!settings.templateSid) return staffTexts.windowClosedNoTemplate(e, ageSeconds);
    if (await templateAwaitingReply(db, e.sender_hash)) return staffTexts.windowClosedTemplatePending(e);
    try {
      await deliverOnce(db, messaging, { turnSid, part: TEMPLATE_OFFSET, kind: 'relay_template', to: e.sender, content: templateContent(e.code) });
      return staffTexts.windowClosedTemplateSent(e);
    } catch (error) {
      return staffTexts.sendFailed(e, describeError(error).message);
    }
  }

  async function claimFor(e: EscalationRow, by: string) {
    return db.transaction(async (tx) => {
      const result = await claim(tx, e, by);
      if (result.outcome !== 'taken') await queueStatusEvents(tx, result.claimed);
      return result;
    });
  }

  async function staffCommand(message: InboundMessage, me: string): Promise<string> {
    const text = message.body.trim();
    const relay = /^#\s*((?:e\s*-?\s*)?\d{3,9})\b\s*([\s\S]*)$/i.exec(text);
    const command = /^\/(claim|done|open|help)\b\s*(\S*)/i.exec(text);

    if (relay) {
      const code = normaliseCode(relay[1]!.replace(/\s+/g, ''));
      const e = await findByCode(db, code);
      if (!e) return staffTexts.unknownCode(code);
      const body = relay[2]!.replace(/^[:,–-]\s*/, '').trim(); // "#E-4821: text" works too
      if (body === '') return staffTexts.emptyRelay(code);
      const claimed = await claimFor(e, me);
      if (claimed.outcome === 'taken') return staffTexts.takenBy(code, claimed.by);
      if (claimed.outcome === 'claimed') kick();
      const problem = await relayToUser(e, message.messageSid, body);
      logger.info({ escalation: code, delivered: problem === undefined }, 'staff reply relayed');
      const parts = [claimed.outcome === 'claimed' ? staffTexts.claimed(e) : undefined, problem].filter(Boolean);
      return parts.join('\n\n');
    }

    const name = command?.[1]?.toLowerCase();
    if (name === 'open') {
      const { rows, total } = await listActive(db, 20);
      return staffTexts.openList(rows, me, total);
    }
    if (name === 'claim' || name === 'done') {
      if (!command![2]) return `Which escalation? /${name} E-4821 (send /open to see them)`;
      const code = normaliseCode(command![2]);
      const e = await findByCode(db, code);
      if (!e) return staffTexts.unknownCode(code);
      if (name === 'claim') {
        const claimed = await claimFor(e, me);
        if (claimed.outcome === 'taken') return staffTexts.takenBy(code, claimed.by);
        if (claimed.outcome === 'already') return staffTexts.alreadyYours(code);
        kick();
        logger.info({ escalation: code }, 'escalation claimed');
        return staffTexts.claimed(e);
      }
      if (e.status === 'resolved' || e.status === 'expired') return staffTexts.alreadyClosed(code, e.status);
      const result = await db.transaction(async (tx) => {
        const closedNow = await closeConversation(tx, e, 'resolved', me);
        await queueStatusEvents(tx, closedNow.closed);
        return closedNow;
      });
      kick();
      logger.info({ escalation: code, handedBack: Boolean(result.handoff) }, 'escalation resolved');
      if (result.handoff) await handBack(result.handoff, result.closed, { by: me });
      return staffTexts.resolved(code, Boolean(result.handoff));
    }
    return staffTexts.help(settings.handoffIdleMinutes, name !== 'help');
  }

  async function handleStaffMessage(message: InboundMessage): Promise<boolean> {
    if (!isStaff(message.sender)) return false;
    const me = toWhatsApp(message.sender);
    const reply = await staffCommand(message, me);
    // The staff member just wrote, so their own 24-hour window is open.
    await sendToStaff(message.messageSid, STAFF_PART, me, reply, 'staff_reply', undefined);
    return true;
  }

  return {
    staffOnDuty,
    escalate,
    handleStaffMessage,
    relayIfHandedOff,
    isStaff,
    forget: (senderHash) => db.transaction((tx) => forgetSender(tx, senderHash)),
    tick,
    start() {
      if (!staffOnDuty) logger.warn('no STAFF_NUMBERS or STAFF_WEBHOOK_URL: escalations are recorded, but nobody is notified');
      if (closed || timer || o.pollIntervalMs <= 0) return;
      timer = setInterval(() => void tick(), o.pollIntervalMs);
      timer.unref();
      void tick();
    },
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      await chain;
    },
  };
}
