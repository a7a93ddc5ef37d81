/**
 * Everything staff and users read about an escalation. Staff messages are in English (one
 * team, one language); what the user reads follows the language of their conversation.
 */
import type { Language, Turn } from '../rag/index.js';
import type { EscalationRow } from './store.js';

export interface OrgTexts {
  name: string;
  humanLine: string;
  humanHours: string;
}

const categoryLabel: Record<string, string> = {
  urgent: 'URGENT',
  sensitive: 'sensitive',
  out_of_scope: 'not in the documents',
  user_request: 'asked for a person',
  failure: 'assistant failure',
};

/** `whatsapp:+15551230001` → `+15551230001` (what staff dial). */
export function phone(address: string): string {
  return address.replace(/^whatsapp:/, '');
}

function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1).trimEnd()}…`;
}

export function ago(seconds: number): string {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

function details(e: EscalationRow): string {
  const lines = [`From: ${phone(e.sender)}${e.language === 'en' ? '' : ` (writes in ${e.language === 'es' ? 'Spanish' : e.language})`}`, `Why: ${clip(e.reason, 160)}`];
  if (e.question.trim() !== '') lines.push(`Asked: "${clip(e.question, 300)}"`);
  const earlier = (e.last_turns as Turn[]).filter((t) => t.role === 'user').slice(-2);
  if (earlier.length > 0) lines.push(`Before that: ${earlier.map((t) => `"${clip(t.content, 120)}"`).join(' · ')}`);
  const sources = (e.sources as Array<{ source: string; heading: string }>).slice(0, 3);
  if (sources.length > 0) lines.push(`Documents checked: ${sources.map((s) => (s.heading ? `${s.source} › ${s.heading}` : s.source)).join('; ')}`);
  return lines.join('\n');
}

const howToReply = (code: string) => `Reply to the user: #${code} <your message>\nTake it: /claim ${code} · Open list: /open · Help: /help`;

export const staffTexts = {
  newEscalation: (e: EscalationRow) => `🔔 *New escalation ${e.code}* — ${categoryLabel[e.category] ?? e.category}\n${details(e)}\n\n${howToReply(e.code)}`,
  reminder: (e: EscalationRow, minutes: number) =>
    `⏰ *Reminder: ${e.code} is still unclaimed* after ${minutes} min — ${categoryLabel[e.category] ?? e.category}\n${details(e)}\n\n${howToReply(e.code)}`,
  failover: (e: EscalationRow) =>
    `⚠️ *Escalation ${e.code}* — ${categoryLabel[e.category] ?? e.category}. The first contact could not be reached, so it comes to you.\n${details(e)}\n\n${howToReply(e.code)}`,
  forward: (e: Pick<EscalationRow, 'code' | 'sender'>, text: string, hasMedia: boolean) =>
    `💬 *${e.code}* (${phone(e.sender)}):\n${text.trim() || '(no text)'}${hasMedia ? "\n[they also sent a voice note or attachment, which can't be forwarded — ask them to type it]" : ''}\n\nReply: #${e.code} <message> · Hand back: /done ${e.code}`,
  claimed: (e: Pick<EscalationRow, 'code' | 'sender'>) =>
    `✅ You have ${e.code} (${phone(e.sender)}). The assistant is paused for this user and their messages come to you here.\nReply: #${e.code} <message> · Hand back: /done ${e.code}`,
  alreadyYours: (code: string) => `You already have ${code}. Reply: #${code} <message> · Hand back: /done ${code}`,
  takenBy: (code: string, staff: string) => `${code} is being handled by ${phone(staff)}. Ask them, or wait until it is handed back.`,
  unknownCode: (code: string) => `There is no escalation ${code}. Send /open to see the open ones.`,
  emptyRelay: (code: string) => `Write your message after the code: #${code} <your message>`,
  resolved: (code: string, handedBack: boolean) =>
    handedBack ? `👍 ${code} resolved. The user is back with the assistant and has been told.` : `👍 ${code} resolved.`,
  handedBackBy: (code: string, by: string) => `${code} was handed back to the assistant by ${phone(by)}.`,
  alreadyClosed: (code: string, status: string) => `${code} is already ${status}. To talk to that user again: #${code} <message>.`,
  idle: (code: string, minutes: number) =>
    `⌛ ${code}: no messages for ${minutes} min, so the conversation went back to the assistant. To take it again: #${code} <message>.`,
  windowClosedNoTemplate: (e: Pick<EscalationRow, 'code' | 'sender'>, ageSeconds: number | null) =>
    `⚠️ Not delivered to ${e.code}: ` +
    (ageSeconds === null
      ? "WhatsApp refused it because the user's 24-hour window is closed (Twilio error 63016)."
      : `the user last wrote ${ago(ageSeconds)} ago, and WhatsApp allows free-form messages only within 24 hours of the user's last message.`) +
    ` No approved template is configured (WHATSAPP_TEMPLATE_SID), so please call them on ${phone(e.sender)}.`,
  windowClosedTemplateSent: (e: Pick<EscalationRow, 'code'>) =>
    `📨 The user's 24-hour WhatsApp window is closed, so your message was not delivered as written. I sent them the approved template inviting them to reply; when they do, their message comes to you here and you can send yours again with #${e.code}.`,
  windowClosedTemplatePending: (e: Pick<EscalationRow, 'code' | 'sender'>) =>
    `⏳ Not delivered to ${e.code}: the window is still closed. The template was already sent and the user hasn't replied yet; if it can't wait, call them on ${phone(e.sender)}.`,
  sendFailed: (e: Pick<EscalationRow, 'code' | 'sender'>, reason: string) =>
    `⚠️ Could not deliver your message to ${e.code} (${clip(reason, 160)}). Please try again, or call them on ${phone(e.sender)}.`,
  openList: (rows: Array<EscalationRow & { age_seconds: number }>, me: string, total: number) => {
    if (rows.length === 0) return 'No open escalations. 🎉';
    const lines = rows.map((e) => {
      const who = e.status === 'open' ? 'unclaimed' : e.claimed_by === me ? 'with you' : `with ${phone(e.claimed_by ?? '')}`;
      return `• ${e.code} — ${categoryLabel[e.category] ?? e.category} — ${ago(e.age_seconds)} ago — ${who}${e.question ? ` — "${clip(e.question, 80)}"` : ''}`;
    });
    const more = total > rows.length ? `\n…and ${total - rows.length} more.` : '';
    return `Open escalations (${total}):\n${lines.join('\n')}${more}\n\nReply: #CODE <message> · /claim CODE · /done CODE`;
  },
  help: (idleMinutes: number, notACommand: boolean) =>
    `${notACommand ? "That isn't a staff command. This number is registered as staff, so it gets staff commands only, never assistant answers.\n\n" : ''}` +
    `*Groundline staff commands*\n` +
    `• #E-4821 <message> — reply to that user through the assistant's WhatsApp number (you take the conversation)\n` +
    `• /claim E-4821 — take the conversation without replying yet\n` +
    `• /done E-4821 — hand it back to the assistant (the user is told)\n` +
    `• /open — open and claimed escalations\n` +
    `• /help — this message\n\n` +
    `While you have a conversation, the assistant stays silent for that user and their messages come to you here. After ${idleMinutes} min without a message either way, it goes back to the assistant.`,
};

export const userTexts = {
  relay: (language: Language, org: OrgTexts, text: string) => (language === 'es' ? `👤 *Equipo de ${org.name}*\n${text}` : `👤 *${org.name} team*\n${text}`),
  handedBack: (language: Language, org: OrgTexts) =>
    language === 'es'
      ? `Vuelve a hablar con el asistente automático. Gracias por hablar con nuestro equipo. Si necesita de nuevo a una persona, escriba /human o llame al ${org.humanLine} (${org.humanHours}).`
      : `You're back with the automated assistant. Thank you for talking to our team. If you need a person again, send /human or call ${org.humanLine} (${org.humanHours}).`,
  idle: (language: Language, org: OrgTexts) =>
    language === 'es'
      ? `La persona de nuestro equipo ha dejado este chat, así que vuelve a hablar con el asistente automático. Si todavía necesita a una persona, escriba /human o llame al ${org.humanLine} (${org.humanHours}).`
      : `Our team member has left this chat, so you're back with the automated assistant. If you still need a person, send /human or call ${org.humanLine} (${org.humanHours}).`,
};
