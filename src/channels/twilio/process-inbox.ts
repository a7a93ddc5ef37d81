/**
 * `processSenderInbox`: the worker's use case. For one sender, take the unanswered inbox
 * messages in arrival order, merge a quick burst of short texts into one turn, respond, and
 * send each part exactly once (parts are stored before sending; a retry sends only the rest).
 */
import { describeError } from '../../errors/index.js';
import type { Logger } from '../../logging/index.js';
import { inbox, respondToTurn, texts, type ConversationDeps, type InboundMessage, type Reply, type ReplyKind } from '../../conversation/index.js';
import { detectLanguage } from '../../rag/index.js';
import type { Metrics } from '../../http/metrics.js';
import type { MessagingClient } from './client.js';
import { formatForWhatsApp, splitMessage } from './format.js';

export interface InboxWorkerDeps {
  conversation: ConversationDeps;
  messaging: MessagingClient;
  logger: Logger;
  metrics?: Metrics;
  burstWindowMs: number;
  /** Messages from these senders are staff commands, never questions (see escalation). */
  handleStaffMessage?: (message: InboundMessage) => Promise<boolean>;
  /** True while a human has taken over this sender's conversation. */
  relayIfHandedOff?: (message: InboundMessage) => Promise<boolean>;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Consecutive short text messages form one turn; commands and media stand alone. A turn a
 * worker already started (and that failed, e.g. Twilio was down) is retried with exactly its
 * own messages: a message that arrived since then is a turn of its own, never merged into it.
 */
export function groupIntoTurns(messages: InboundMessage[]): InboundMessage[][] {
  const turns: InboundMessage[][] = [];
  const standalone = (m: InboundMessage) => m.media.length > 0 || m.body.trim().startsWith('/');
  const started = (m: InboundMessage) => m.status === 'processing' && Boolean(m.turnSid);
  for (const message of messages) {
    const last = turns[turns.length - 1];
    const tail = last?.[last.length - 1];
    const joins =
      tail !== undefined &&
      (started(message) || started(tail) ? started(message) && message.turnSid === tail.turnSid : !standalone(message) && !standalone(tail));
    if (last && joins) last.push(message);
    else turns.push([message]);
  }
  return turns;
}

/**
 * Sends a turn's reply, each part once. `fresh`: the turn was never started before, so no
 * part can be stored yet and the lookup is skipped.
 */
export async function sendReply(deps: InboxWorkerDeps, turnSid: string, to: string, toHash: string, reply: Pick<Reply, 'kind' | 'text'>, options: { fresh?: boolean } = {}): Promise<void> {
  const db = deps.conversation.db;
  const stored = options.fresh ? [] : await db.query<{ part: number; body: string; status: string }>('SELECT part, body, status FROM outbound_messages WHERE turn_sid = $1 ORDER BY part', [turnSid]);
  // A retried job re-sends the stored parts, never a freshly generated (possibly different) reply.
  const parts = stored.length > 0 ? stored.map((p) => p.body) : splitMessage(formatForWhatsApp(reply.text));
  if (stored.length === 0) {
    await inbox.recordOutboundAttempts(db, parts.map((body, part) => ({ turnSid, part, kind: reply.kind, recipient: to, recipientHash: toHash, body })));
  }
  const done = new Set(stored.filter((p) => p.status === 'sent').map((p) => p.part));
  for (const [i, body] of parts.entries()) {
    if (done.has(i)) continue;
    try {
      const { sid } = await deps.messaging.send(to, { body });
      await inbox.recordOutboundResult(db, turnSid, i, { twilioSid: sid });
    } catch (error) {
      await inbox.recordOutboundResult(db, turnSid, i, { error: describeError(error).message });
      throw error;
    }
  }
}

async function waitForQuietSender(deps: InboxWorkerDeps, senderHash: string, first: InboundMessage[]): Promise<InboundMessage[]> {
  const sleep = deps.sleep ?? defaultSleep;
  let pending = first;
  // Wait until the sender has been quiet for the burst window (bounded, so a chatty sender still gets answers).
  for (let round = 0; round < 5 && pending.length > 0 && deps.burstWindowMs > 0; round += 1) {
    const last = pending[pending.length - 1]!;
    const quietFor = Date.now() - last.receivedAt.getTime();
    if (quietFor >= deps.burstWindowMs) break;
    await sleep(deps.burstWindowMs - quietFor);
    pending = (await inbox.senderWork(deps.conversation.db, senderHash)).pending;
  }
  return pending;
}

export async function processSenderInbox(deps: InboxWorkerDeps, senderHash: string): Promise<void> {
  const db = deps.conversation.db;
  const work = await inbox.senderWork(db, senderHash);
  for (const limited of work.rateLimitNotices) {
    const t = texts(detectLanguage(limited.body), deps.conversation.organisation);
    await sendReply(deps, limited.messageSid, limited.sender, senderHash, { kind: 'notice', text: t.rateLimited });
    await inbox.markRateLimitedDone(db, limited.messageSid);
  }

  const pending = await waitForQuietSender(deps, senderHash, work.pending);
  for (const turn of groupIntoTurns(pending)) {
    const first = turn[0]!;
    const sids = turn.map((m) => m.messageSid);
    const started = Date.now();
    await inbox.markProcessing(db, sids, first.messageSid);

    if (deps.handleStaffMessage && (await deps.handleStaffMessage(first))) {
      for (const m of turn.slice(1)) await deps.handleStaffMessage(m); // each staff message is its own command
      await inbox.markDone(db, sids, first.messageSid, 'staff', 'staff command');
      continue;
    }
    if (deps.relayIfHandedOff && (await deps.relayIfHandedOff(first))) {
      for (const m of turn.slice(1)) await deps.relayIfHandedOff(m);
      await inbox.markDone(db, sids, first.messageSid, 'answered', 'relayed to staff');
      continue;
    }

    // A retried turn whose reply is already stored re-sends that reply: no second model call,
    // history entry or escalation.
    const storedKind = first.storedReplyKind;
    // Never started before: nothing of it can be stored yet.
    const fresh = turn.every((m) => m.status === 'received');
    const reply: Pick<Reply, 'kind' | 'text' | 'result'> = storedKind
      ? { kind: storedKind as ReplyKind, text: '' }
      : await respondToTurn(deps.conversation, {
          turnSid: first.messageSid,
          sender: first.sender,
          senderHash,
          text: turn.map((m) => m.body.trim()).filter(Boolean).join('\n'),
          media: first.media,
        });
    await sendReply(deps, first.messageSid, first.sender, senderHash, reply, { fresh });
    const status = reply.kind === 'escalation' || reply.kind === 'fallback' ? 'escalated' : reply.kind === 'command' ? 'command' : 'answered';
    await inbox.markDone(db, sids, first.messageSid, status, reply.kind);
    deps.metrics?.observeTurn(reply, (Date.now() - first.receivedAt.getTime()) / 1000, (Date.now() - started) / 1000);
    deps.logger.info({ senderId: senderHash, turn: first.messageSid, messages: sids.length, kind: reply.kind, category: reply.result?.escalation?.category }, 'turn answered');
  }
}
