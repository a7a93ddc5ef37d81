/**
 * Helpers for the WhatsApp channel tests: Twilio-shaped inbound form payloads signed with the
 * `twilio` SDK's own signature function, message SIDs, unique senders, a tiny knowledge base,
 * a cited "echo" reply for the fake Anthropic, polling, and a TCP proxy in front of the real
 * Redis that a test can cut (Redis "down") and restore.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import twilio from 'twilio';
import type { Assistant } from '../../src/composition.js';
import { citedAnswer, collectSearchResults, slowReply, type FakeAnthropic, type FakeReply, type MessageCreateParams } from '../fakes/anthropic.js';
import type { FakeTwilio } from '../fakes/twilio.js';

export const TWILIO_NUMBER = 'whatsapp:+14155238886';
export const WEBHOOK_PATH = '/webhooks/twilio';

/** The environment every channel test shares: fake Twilio and Claude, a small knowledge folder. */
export function channelEnv(f: { twilio: FakeTwilio; anthropic: FakeAnthropic; knowledgeDir: string }): Record<string, string> {
  return {
    PORT: '0',
    KNOWLEDGE_DIR: f.knowledgeDir,
    TWILIO_ACCOUNT_SID: f.twilio.accountSid,
    TWILIO_AUTH_TOKEN: f.twilio.authToken,
    TWILIO_WHATSAPP_NUMBER: TWILIO_NUMBER,
    TWILIO_API_BASE_URL: f.twilio.url,
    ANTHROPIC_API_KEY: 'test-key',
    ANTHROPIC_BASE_URL: f.anthropic.url,
  };
}

/** A Twilio message SID: 'SM' + 32 hex characters. */
export function messageSid(): string {
  return `SM${randomBytes(16).toString('hex')}`;
}

let senderCounter = 0;
const senderPrefix = String(100 + Math.floor(Math.random() * 800));
/** A WhatsApp address no other test (or test file) uses. */
export function newSender(): string {
  senderCounter += 1;
  return `whatsapp:+44${senderPrefix}${String(process.pid % 10_000).padStart(4, '0')}${String(senderCounter).padStart(3, '0')}`;
}

/** A complete inbound form as Twilio posts it for a WhatsApp text; `fields` override or add. */
export function inboundForm(fields: { From: string; Body?: string; MessageSid?: string } & Record<string, string | undefined>): Record<string, string> {
  const sid = fields.MessageSid ?? messageSid();
  const form: Record<string, string | undefined> = {
    SmsMessageSid: sid,
    NumMedia: '0',
    ProfileName: 'Test Patient',
    MessageType: 'text',
    SmsSid: sid,
    WaId: fields.From.replace(/^whatsapp:\+/, ''),
    SmsStatus: 'received',
    Body: '',
    To: TWILIO_NUMBER,
    NumSegments: '1',
    ReferralNumMedia: '0',
    MessageSid: sid,
    AccountSid: `AC${'0'.repeat(32)}`,
    ApiVersion: '2010-04-01',
    ...fields,
  };
  return Object.fromEntries(Object.entries(form).filter((e): e is [string, string] => e[1] !== undefined));
}

export interface WebhookResponse {
  status: number;
  contentType: string | null;
  text: string;
}

export interface WebhookClient {
  /** The URL the signature is computed for (the public URL Twilio "called"). */
  readonly signedUrl: string;
  /** Posts `form`; signs it unless `signature` is given (null = no header). */
  post(form: Record<string, string>, options?: { signature?: string | null; signUrl?: string }): Promise<WebhookResponse>;
  /** Posts a signed text message; returns its SID and the response. */
  text(from: string, body: string, extra?: Record<string, string>): Promise<{ sid: string; response: WebhookResponse }>;
}

export function signatureFor(authToken: string, url: string, form: Record<string, string>): string {
  return twilio.getExpectedTwilioSignature(authToken, url, form);
}

export function webhookClient(options: { port: number; authToken: string; publicBaseUrl?: string }): WebhookClient {
  const target = `http://127.0.0.1:${options.port}${WEBHOOK_PATH}`;
  const signedUrl = `${options.publicBaseUrl ?? `http://127.0.0.1:${options.port}`}${WEBHOOK_PATH}`;
  const client: WebhookClient = {
    signedUrl,
    async post(form, postOptions = {}) {
      const signature = postOptions.signature === undefined ? signatureFor(options.authToken, postOptions.signUrl ?? signedUrl, form) : postOptions.signature;
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
      if (signature !== null) headers['x-twilio-signature'] = signature;
      const response = await fetch(target, { method: 'POST', headers, body: new URLSearchParams(form).toString() });
      return { status: response.status, contentType: response.headers.get('content-type'), text: await response.text() };
    },
    async text(from, body, extra = {}) {
      const form = inboundForm({ From: from, Body: body, ...extra });
      const response = await client.post(form);
      return { sid: form.MessageSid!, response };
    },
  };
  return client;
}

// ---------------------------------------------------------------------------------------
// Knowledge fixture
// ---------------------------------------------------------------------------------------

export const CLEAR_LIQUIDS = 'You may drink water and other clear liquids until 2 hours before your arrival time.';
export const COFFEE = 'Black coffee counts as a clear liquid: you can have it up to 2 hours before arrival.';

/** Two small Markdown documents in a fresh temp folder: fast to ingest on first start. */
export async function writeKnowledgeFixture(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'groundline-wa-kb-'));
  await mkdir(dir, { recursive: true });
  await writeFile(
    path.join(dir, 'fasting.md'),
    `---\ntitle: Fasting before surgery\nlang: en\n---\n\n# Fasting before surgery\n\n## Clear liquids\n\n${CLEAR_LIQUIDS} After that, nothing by mouth.\n\n## Coffee\n\n${COFFEE} Milk turns it into food.\n\n## Solid food\n\nStop eating solid food 8 hours before your arrival time for surgery.\n`,
  );
  await writeFile(
    path.join(dir, 'wound-care.md'),
    `---\ntitle: Caring for your wound\nlang: en\n---\n\n# Caring for your wound\n\n## Showering after surgery\n\nKeep the dressing dry for 48 hours after surgery. After that you may shower.\n`,
  );
  return dir;
}

export function removeDir(dir: string | undefined): Promise<void> {
  return dir ? rm(dir, { recursive: true, force: true }) : Promise.resolve();
}

// ---------------------------------------------------------------------------------------
// Fake Anthropic replies
// ---------------------------------------------------------------------------------------

/** The text of the last user message's last text block: the question as Claude sees it. */
export function questionOf(request: MessageCreateParams): string {
  const content = request.messages.at(-1)?.content;
  if (typeof content === 'string') return content;
  const texts = (content ?? []).flatMap((b) => (b.type === 'text' ? [b.text] : []));
  return texts.at(-1) ?? '';
}

/**
 * A grounded reply that echoes the question ("Answer to: …"), cited to the first search result,
 * so each reply names the message it answers. Questions containing "slowly" wait `slowMs` first.
 */
export function citedEcho(slowMs = 1500): (request: MessageCreateParams) => FakeReply {
  return (request) => {
    const question = questionOf(request);
    const found = collectSearchResults(request).find((r) => r.messageIndex === request.messages.length - 1);
    const reply = citedAnswer([{ text: `Answer to: ${question}`, cite: { searchResultIndex: found?.index ?? 0 } }]);
    return /slowly/i.test(question) ? slowReply(slowMs, reply) : reply;
  };
}

// ---------------------------------------------------------------------------------------
// Waiting and inspection
// ---------------------------------------------------------------------------------------

/** Polls `probe` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T> | T, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface InboundRow {
  message_sid: string;
  status: string;
  body: string;
  turn_sid: string | null;
  outcome: string | null;
  notify_rate_limit: boolean;
}

export async function inboundRow(assistant: Pick<Assistant, 'db'>, sid: string): Promise<InboundRow | undefined> {
  const [row] = await assistant.db.query<InboundRow>('SELECT message_sid, status, body, turn_sid, outcome, notify_rate_limit FROM inbound_messages WHERE message_sid = $1', [sid]);
  return row;
}

/** Waits until the inbox says the message is handled (answered, escalated, command, merged …). */
export function handled(assistant: Pick<Assistant, 'db'>, sid: string, timeoutMs?: number): Promise<InboundRow> {
  return waitFor(async () => {
    const row = await inboundRow(assistant, sid);
    return row && !['received', 'processing'].includes(row.status) ? row : undefined;
  }, `message ${sid} to be handled`, timeoutMs);
}

// ---------------------------------------------------------------------------------------
// A cuttable TCP path to Redis
// ---------------------------------------------------------------------------------------

export interface TcpProxy {
  readonly port: number;
  readonly url: string;
  /** Refuses new connections and resets every open one: to its clients, Redis is down. */
  cut(): Promise<void>;
  /** Accepts connections again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** A loopback TCP proxy to `target` (e.g. the real Redis on 127.0.0.1:6379). */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const makeServer = () =>
    net.createServer((client) => {
      const upstream = net.connect(target.port, target.host);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  const listen = (server: net.Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
    });
  let server: net.Server | undefined = makeServer();
  const port = await listen(server, 0);
  const stop = async () => {
    const current = server;
    server = undefined;
    for (const s of sockets) s.destroy();
    sockets.clear();
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    cut: stop,
    async restore() {
      if (server) return;
      server = makeServer();
      await listen(server, port);
    },
    close: stop,
  };
}
