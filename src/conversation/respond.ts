/**
 * `respondToTurn`: one user turn in, one reply out — the story every channel shares:
 * media → commands → history → answer → remember. Never throws for a model or history
 * failure: the user gets the safe fallback instead.
 */
import { describeError, type AppError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import { answerQuestion, detectLanguage, escalationReply, fallbackReply, type AnswerDeps, type AnswerResult, type EscalationCategory, type Language, type Turn } from '../rag/index.js';
import type { Database } from '../store/index.js';
import type { Transcriber } from '../vendors/openai.js';
import type { HistoryStore } from './history.js';
import { forgetSender, recordAnswer, type InboundMedia } from './inbox.js';
import { texts } from './texts.js';

export interface EscalationRequest {
  turnSid: string;
  sender: string;
  senderHash: string;
  category: EscalationCategory;
  reason: string;
  question: string;
  history: Turn[];
  retrieved: AnswerResult['retrieved'];
  language: Language;
}

/** Receives every escalation (staff notification lives behind it). */
export type EscalationSink = (request: EscalationRequest) => Promise<void>;

export interface ConversationDeps extends AnswerDeps {
  db: Database;
  history: HistoryStore;
  transcriber: Transcriber | undefined;
  downloadMedia: ((url: string, maxBytes: number) => Promise<{ bytes: Buffer; contentType: string }>) | undefined;
  escalate: EscalationSink;
  /** Also erases what other parts stored about the sender (escalation records) on /forget. */
  onForget?: (senderHash: string) => Promise<void>;
  logger: Logger;
  kb: string;
  topK: number;
  maxQuestionChars: number;
  maxMediaBytes: number;
}

export interface TurnInput {
  turnSid: string;
  sender: string;
  senderHash: string;
  text: string;
  media: InboundMedia[];
}

export type ReplyKind = 'answer' | 'escalation' | 'fallback' | 'command' | 'notice';

export interface Reply {
  kind: ReplyKind;
  text: string;
  result?: AnswerResult;
}

const audioTypes = /^audio\//;

async function transcribeVoice(deps: ConversationDeps, media: InboundMedia): Promise<string | undefined> {
  if (!deps.transcriber || !deps.downloadMedia) return undefined;
  try {
    const { bytes, contentType } = await deps.downloadMedia(media.url, deps.maxMediaBytes);
    if (!audioTypes.test(contentType)) return undefined;
    const extension = contentType.split('/')[1]?.split(/[;+]/)[0] ?? 'ogg';
    return (await deps.transcriber.transcribe(bytes, `voice-note.${extension}`, contentType)) || undefined;
  } catch (error) {
    deps.logger.warn({ error: describeError(error) }, 'voice note could not be transcribed');
    return undefined;
  }
}

async function safely<T>(deps: ConversationDeps, what: string, fn: () => Promise<T>, fallback: T): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    deps.logger.error({ error: describeError(error) }, `${what} failed; continuing without it`);
    return fallback;
  }
}

async function handleCommand(deps: ConversationDeps, input: TurnInput, command: string, language: Language): Promise<Reply> {
  const t = texts(language, deps.organisation);
  switch (command) {
    case '/reset':
      await safely(deps, 'history reset', () => deps.history.clear(input.senderHash), undefined);
      return { kind: 'command', text: t.reset };
    case '/forget':
      await safely(deps, 'history reset', () => deps.history.clear(input.senderHash), undefined);
      await forgetSender(deps.db, input.senderHash);
      await deps.onForget?.(input.senderHash);
      return { kind: 'command', text: t.forget };
    case '/human': {
      const history = await safely(deps, 'history read', () => deps.history.get(input.senderHash), [] as Turn[]);
      await deps.escalate({ turnSid: input.turnSid, sender: input.sender, senderHash: input.senderHash, category: 'user_request', reason: 'the user asked for a human (/human)', question: input.text, history, retrieved: [], language });
      return { kind: 'escalation', text: escalationReply('user_request', language, deps.organisation) };
    }
    default:
      return { kind: 'command', text: t.help };
  }
}

export async function respondToTurn(deps: ConversationDeps, input: TurnInput): Promise<Reply> {
  let text = input.text.trim();
  const historyLanguage = detectLanguage(text);
  if (input.media.length > 0) {
    const voice = input.media.find((m) => audioTypes.test(m.contentType));
    if (!voice) return { kind: 'notice', text: texts(historyLanguage, deps.organisation).mediaUnsupported };
    const transcript = await transcribeVoice(deps, voice);
    if (!transcript) return { kind: 'notice', text: texts(historyLanguage, deps.organisation).voiceFailed };
    text = [text, transcript].filter(Boolean).join('\n');
  }
  const language = detectLanguage(text);
  const t = texts(language, deps.organisation);
  if (text === '') return { kind: 'notice', text: t.empty };
  if (text.startsWith('/')) return handleCommand(deps, input, text.split(/\s+/)[0]!.toLowerCase(), language);
  if (text.length > deps.maxQuestionChars) return { kind: 'notice', text: t.tooLong(deps.maxQuestionChars) };

  const history = await safely(deps, 'history read', () => deps.history.get(input.senderHash), [] as Turn[]);
  let result: AnswerResult;
  try {
    result = await answerQuestion(deps, { question: text, history, kb: deps.kb, topK: deps.topK });
  } catch (error) {
    deps.logger.error({ error: describeError(error), senderId: input.senderHash }, 'answer failed; sending the fallback');
    await deps.escalate({ turnSid: input.turnSid, sender: input.sender, senderHash: input.senderHash, category: 'failure', reason: `the answer pipeline failed: ${(error as AppError).id ?? 'error'}`, question: text, history, retrieved: [], language });
    await recordAnswer(deps.db, { turnSid: input.turnSid, senderHash: input.senderHash, kind: 'fallback', category: 'failure', reason: describeError(error).message, question: text, citations: [], retrieved: [], knowledgeVersion: null, model: deps.answerer.model, timings: {} });
    return { kind: 'fallback', text: fallbackReply(language, deps.organisation) };
  }
  await safely(deps, 'history write', () => deps.history.append(input.senderHash, [{ role: 'user', content: text }, { role: 'assistant', content: result.text }]), undefined);
  await recordAnswer(deps.db, {
    turnSid: input.turnSid,
    senderHash: input.senderHash,
    kind: result.kind,
    category: result.escalation?.category,
    reason: result.escalation?.reason,
    question: text,
    citations: result.citations,
    retrieved: result.retrieved,
    knowledgeVersion: result.knowledgeVersion,
    model: result.model,
    timings: result.timings,
  });
  if (result.kind === 'escalation' && result.escalation) {
    await deps.escalate({ turnSid: input.turnSid, sender: input.sender, senderHash: input.senderHash, category: result.escalation.category, reason: result.escalation.reason, question: text, history, retrieved: result.retrieved, language });
  }
  return { kind: result.kind, text: result.text, result };
}
