/**
 * A running assistant for the escalation and handoff tests, wired to the fake Twilio and the
 * fake Anthropic, driven through the real webhook over HTTP (signed like Twilio signs), with
 * a few ways to look at what happened: messages per recipient, rows, and "time passing".
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import twilio from 'twilio';
import { vi } from 'vitest';
import { startAssistant, type Assistant, type AssistantOptions } from '../../src/composition.js';
import { hashSender } from '../../src/logging/index.js';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { startFakeTwilio, type FakeTwilio, type SentMessage } from '../fakes/twilio.js';
import { testConfig } from './config.js';

export const BOT_NUMBER = 'whatsapp:+14155238886';

let counter = 0;
const run = String(randomBytes(2).readUInt16BE() % 1000).padStart(3, '0');
/** A WhatsApp address no other test uses (staff and users alike). */
export function newNumber(): string {
  counter += 1;
  return `whatsapp:+1555${run}${String(counter).padStart(4, '0')}`;
}

export function newMessageSid(): string {
  return `SM${randomBytes(16).toString('hex')}`;
}

export interface Harness {
  assistant: Assistant;
  twilio: FakeTwilio;
  anthropic: FakeAnthropic;
  /** Posts a signed inbound WhatsApp message (a fixed MessageSid repeats a delivery) and waits until the worker has handled it. */
  send(from: string, body: string, messageSid?: string): Promise<string>;
  /** Messages the fake Twilio accepted for `to`, oldest first. */
  sentTo(to: string): SentMessage[];
  /** Waits until a message to `to` matches `match` (polling; fails after 10 s). */
  waitForMessage(to: string, match: (m: SentMessage) => boolean): Promise<SentMessage>;
  /** Runs the escalation timer's work once (notifications, reminders, idle hand-backs). */
  tick(): ReturnType<Assistant['escalation']['tick']>;
  /** Every stored timestamp of this user's conversation moves `minutes` into the past. */
  letTimePass(user: string, minutes: number): Promise<void>;
  query<T extends object>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export async function startHarness(env: Record<string, string>, options: AssistantOptions = {}): Promise<Harness> {
  const fakeTwilio = await startFakeTwilio();
  const anthropic = await startFakeAnthropic();
  const config = testConfig({
    PORT: '0',
    TWILIO_ACCOUNT_SID: fakeTwilio.accountSid,
    TWILIO_AUTH_TOKEN: fakeTwilio.authToken,
    TWILIO_WHATSAPP_NUMBER: BOT_NUMBER,
    TWILIO_API_BASE_URL: fakeTwilio.url,
    ANTHROPIC_API_KEY: 'sk-ant-test',
    ANTHROPIC_BASE_URL: anthropic.url,
    ANTHROPIC_MAX_RETRIES: '0',
    BURST_WINDOW_MS: '0',
    RATE_LIMIT_MAX: '1000',
    ...env,
  });
  const assistant = await startAssistant(config, { twilioRetryBaseMs: 1, queueRetryBaseMs: 5, ...options });
  const url = `http://127.0.0.1:${assistant.port}/webhooks/twilio`;
  const db = assistant.db;

  async function send(from: string, body: string, messageSid = newMessageSid()): Promise<string> {
    const form = { MessageSid: messageSid, SmsMessageSid: messageSid, AccountSid: fakeTwilio.accountSid, From: from, To: BOT_NUMBER, Body: body, NumMedia: '0', ProfileName: 'Test' };
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(fakeTwilio.authToken, url, form) },
      body: new URLSearchParams(form).toString(),
    });
    if (response.status !== 200) throw new Error(`webhook answered ${response.status}: ${await response.text()}`);
    await vi.waitFor(
      async () => {
        const [row] = await db.query<{ status: string }>('SELECT status FROM inbound_messages WHERE message_sid = $1', [messageSid]);
        if (!row || row.status === 'received' || row.status === 'processing') throw new Error(`message ${messageSid} not handled yet (${row?.status})`);
      },
      { timeout: 10_000, interval: 10 },
    );
    return messageSid;
  }

  const sentTo = (to: string) => fakeTwilio.sent.filter((m) => m.to === to);

  return {
    assistant,
    twilio: fakeTwilio,
    anthropic,
    send,
    sentTo,
    async waitForMessage(to, match) {
      return vi.waitFor(
        () => {
          const found = sentTo(to).find(match);
          if (!found) throw new Error(`no matching message to ${to} yet; got:\n${sentTo(to).map((m) => m.body ?? m.contentSid).join('\n---\n')}`);
          return found;
        },
        { timeout: 10_000, interval: 10 },
      );
    },
    tick: () => assistant.escalation.tick(),
    async letTimePass(user, minutes) {
      const hash = hashSender(user);
      const shift = (column: string) => `${column} = ${column} - $2::int * interval '1 minute'`;
      await db.query(`UPDATE inbound_messages SET ${shift('received_at')} WHERE sender_hash = $1`, [hash, minutes]);
      await db.query(`UPDATE outbound_messages SET ${shift('created_at')} WHERE recipient_hash = $1`, [hash, minutes]);
      await db.query(
        `UPDATE escalations SET ${['created_at', 'last_user_message_at', 'claimed_at', 'next_reminder_at'].map(shift).join(', ')} WHERE sender_hash = $1`,
        [hash, minutes],
      );
      await db.query(
        `UPDATE escalation_notifications SET ${shift('next_attempt_at')} WHERE escalation_id IN (SELECT id FROM escalations WHERE sender_hash = $1)`,
        [hash, minutes],
      );
      await db.query(`UPDATE handoffs SET ${shift('started_at')}, ${shift('last_activity_at')} WHERE sender_hash = $1`, [hash, minutes]);
    },
    query: (sql, params) => db.query(sql, params),
    async close() {
      await assistant.close();
      await fakeTwilio.close();
      await anthropic.close();
    },
  };
}

/** The escalation code staff were sent in a notification (`#E-4821 …`). */
export function codeIn(message: SentMessage | undefined): string {
  const match = /\b(E-\d{4,})\b/.exec(message?.body ?? '');
  if (!match) throw new Error(`no escalation code in ${JSON.stringify(message?.body)}`);
  return match[1]!;
}

export interface ReceivedCall {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A tiny HTTP receiver on 127.0.0.1 standing in for a ticketing system's webhook endpoint. */
export async function startWebhookReceiver(): Promise<{ url: string; calls: ReceivedCall[]; failNext(count: number): void; close(): Promise<void> }> {
  const calls: ReceivedCall[] = [];
  let failures = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (failures > 0) {
        failures -= 1;
        res.writeHead(503).end();
        return;
      }
      calls.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/groundline`,
    calls,
    failNext(count) {
      failures += count;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
