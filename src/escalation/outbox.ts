/**
 * Sends one WhatsApp message at most once per (turn_sid, part), recorded in outbound_messages
 * like every other message we send: a retried job skips what already went out.
 */
import type { MessagingClient, OutboundContent } from '../channels/twilio/client.js';
import { inbox } from '../conversation/index.js';
import { ErrorIds, describeError, isAppError } from '../errors/index.js';
import { hashSender } from '../logging/index.js';
import type { Queryable } from '../store/index.js';

export interface OutboundRequest {
  turnSid: string;
  part: number;
  kind: string;
  to: string;
  content: OutboundContent;
}

export async function deliverOnce(db: Queryable, messaging: MessagingClient, m: OutboundRequest): Promise<{ sid: string; alreadySent: boolean }> {
  const [existing] = await db.query<{ status: string; twilio_sid: string | null }>('SELECT status, twilio_sid FROM outbound_messages WHERE turn_sid = $1 AND part = $2', [m.turnSid, m.part]);
  if (existing?.status === 'sent') return { sid: existing.twilio_sid ?? '', alreadySent: true };
  await inbox.recordOutboundAttempt(db, {
    turnSid: m.turnSid,
    part: m.part,
    kind: m.kind,
    recipient: m.to,
    recipientHash: hashSender(m.to),
    body: 'body' in m.content ? m.content.body : undefined,
    contentSid: 'contentSid' in m.content ? m.content.contentSid : undefined,
  });
  try {
    const { sid } = await messaging.send(m.to, m.content);
    await inbox.recordOutboundResult(db, m.turnSid, m.part, { twilioSid: sid });
    return { sid, alreadySent: false };
  } catch (error) {
    await inbox.recordOutboundResult(db, m.turnSid, m.part, { error: describeError(error).message });
    throw error;
  }
}

/** Records a message we decided not to send (e.g. the 24-hour window is closed), for the audit. */
export async function recordNotSent(db: Queryable, m: Omit<OutboundRequest, 'content'> & { body: string; reason: string }): Promise<void> {
  await inbox.recordOutboundAttempt(db, { turnSid: m.turnSid, part: m.part, kind: m.kind, recipient: m.to, recipientHash: hashSender(m.to), body: m.body });
  await inbox.recordOutboundResult(db, m.turnSid, m.part, { error: m.reason });
}

/** Twilio error 63016: the user's (or staff member's) 24-hour customer-service window is closed. */
export function isWindowClosed(error: unknown): boolean {
  return isAppError(error) && error.id === ErrorIds.twilioWindowClosed;
}
