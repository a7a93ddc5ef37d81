/**
 * Escalations reach staff: recorded once per turn, notified once, retried after a failure,
 * failed over to the next contact when urgent, reminded after the SLA, mirrored to a signed
 * webhook — and staff phones only ever get staff commands, never assistant answers.
 *
 * One app for the file, driven through the signed webhook; the escalation timer is off and
 * the tests call `tick()`, so every delivery happens exactly when a test says so.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { ConfigError } from '../src/errors/index.js';
import { verifyWebhookSignature } from '../src/escalation/index.js';
import { hashSender } from '../src/logging/index.js';
import { escalationReply } from '../src/rag/index.js';
import { escalateToolUse } from './fakes/anthropic.js';
import { codeIn, newNumber, startHarness, startWebhookReceiver, type Harness } from './support/escalation.js';

const WEBHOOK_SECRET = 'test-webhook-secret-0123456789abcdef';

describe('escalation: staff notification', () => {
  let h: Harness;
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
  const urgentFirst = newNumber();
  const urgentSecond = newNumber();
  const deskFirst = newNumber();
  const deskSecond = newNumber();

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    h = await startHarness(
      {
        // Urgent escalations go to the on-call phones first; everything else to the front desk.
        STAFF_NUMBERS: `urgent=${urgentFirst},${urgentSecond.replace('whatsapp:', '')}; default=${deskFirst},${deskSecond}`,
        STAFF_WEBHOOK_URL: receiver.url,
        STAFF_WEBHOOK_SECRET: WEBHOOK_SECRET,
        ESCALATION_SLA_MINUTES: '10',
      },
      { escalation: { pollIntervalMs: 0, deliverImmediately: false } },
    );
  });
  afterAll(async () => {
    await h?.close();
    await receiver?.close();
  });

  async function escalationOf(user: string) {
    const rows = await h.query<{ id: string; code: string; category: string; status: string; reminder_level: number; turn_sid: string }>(
      'SELECT id::text AS id, code, category, status, reminder_level, turn_sid FROM escalations WHERE sender_hash = $1 ORDER BY id',
      [hashSender(user)],
    );
    expect(rows).toHaveLength(1);
    return rows[0]!;
  }

  async function notificationsOf(escalationId: string) {
    return h.query<{ id: string; kind: string; channel: string; target: string; status: string; attempts: number; last_error: string | null; errors: unknown[]; contact_index: number | null }>(
      'SELECT id::text AS id, kind, channel, target, status, attempts, last_error, errors, contact_index FROM escalation_notifications WHERE escalation_id = $1 ORDER BY id',
      [escalationId],
    );
  }

  it('when the model escalates a question, then the first contact gets it once with code, category, question and how to reply, and a duplicate delivery notifies nobody again', async () => {
    const user = newNumber();
    h.anthropic.enqueue(escalateToolUse({ category: 'sensitive', reason: 'asks whether to stop a prescribed medicine' }));
    const question = 'Should I stop taking my blood pressure medicines before surgery?';
    const sid = await h.send(user, question);

    const [reply] = h.sentTo(user);
    expect(reply?.body).toContain('care team');
    expect(reply?.body).toContain('+1 (555) 555-0200');
    const escalation = await escalationOf(user);
    expect(escalation).toMatchObject({ category: 'sensitive', status: 'open', turn_sid: sid });
    expect(escalation.code).toMatch(/^E-\d{4}$/);

    await h.tick();
    const notices = h.sentTo(deskFirst).filter((m) => m.body?.includes(escalation.code));
    expect(notices).toHaveLength(1);
    expect(notices[0]!.body).toContain('New escalation');
    expect(notices[0]!.body).toContain('sensitive');
    expect(notices[0]!.body).toContain(question);
    expect(notices[0]!.body).toContain(`#${escalation.code} <your message>`);
    expect(notices[0]!.body).toContain(user.replace('whatsapp:', ''));

    // Twilio delivers the same message again, and the turn's escalation is replayed as a retried job would.
    await h.send(user, question, sid);
    await h.assistant.conversation.escalate({ turnSid: sid, sender: user, senderHash: hashSender(user), category: 'sensitive', reason: 'replayed', question, history: [], retrieved: [], language: 'en' });
    await h.tick();

    expect(h.sentTo(deskFirst).filter((m) => m.body?.includes(escalation.code))).toHaveLength(1);
    expect(h.sentTo(user)).toHaveLength(1);
    await escalationOf(user);
    expect((await notificationsOf(escalation.id)).map((n) => [n.channel, n.status])).toEqual([
      ['whatsapp', 'sent'],
      ['webhook', 'sent'],
    ]);
  });

  it('when sending the notification fails, then the failure is recorded and the retry after the backoff delivers it', async () => {
    const user = newNumber();
    await h.send(user, '/human');
    const escalation = await escalationOf(user);

    h.twilio.failNext(500, 4); // every attempt the Twilio client makes for this notification
    await h.tick();
    expect(h.sentTo(deskFirst).filter((m) => m.body?.includes(escalation.code))).toHaveLength(0);
    const [failed] = await notificationsOf(escalation.id);
    expect(failed).toMatchObject({ channel: 'whatsapp', status: 'pending', attempts: 1 });
    expect(failed!.last_error).toContain('HTTP 500');

    await h.tick(); // the retry is not due yet
    expect(h.sentTo(deskFirst).filter((m) => m.body?.includes(escalation.code))).toHaveLength(0);

    await h.letTimePass(user, 1);
    await h.tick();
    expect(h.sentTo(deskFirst).filter((m) => m.body?.includes(escalation.code))).toHaveLength(1);
    const [delivered] = await notificationsOf(escalation.id);
    expect(delivered).toMatchObject({ status: 'sent', attempts: 2 });
    expect(delivered!.errors).toHaveLength(1);
    const outbound = await h.query<{ status: string; kind: string }>('SELECT status, kind FROM outbound_messages WHERE turn_sid = $1', [`notification:${delivered!.id}`]);
    expect(outbound).toEqual([{ status: 'sent', kind: 'staff_new' }]);
  });

  it('when an urgent escalation cannot reach the first contact after all retries, then it goes to the next contact', async () => {
    const user = newNumber();
    await h.send(user, 'I have chest pain since the operation');
    expect(h.sentTo(user)[0]?.body).toContain('Call 911 now');
    const escalation = await escalationOf(user);
    expect(escalation.category).toBe('urgent');

    for (let attempt = 1; attempt <= 4; attempt += 1) {
      h.twilio.failNext(500, 4);
      await h.tick();
      await h.letTimePass(user, 2); // past each backoff, well inside the 10-minute SLA
    }

    expect(h.sentTo(urgentFirst)).toHaveLength(0);
    const failover = h.sentTo(urgentSecond).filter((m) => m.body?.includes(escalation.code));
    expect(failover).toHaveLength(1);
    expect(failover[0]!.body).toContain('first contact could not be reached');
    const whatsapp = (await notificationsOf(escalation.id)).filter((n) => n.channel === 'whatsapp');
    expect(whatsapp.map((n) => [n.kind, n.target, n.status, n.attempts])).toEqual([
      ['new', urgentFirst, 'failed', 4],
      ['failover', urgentSecond, 'sent', 1],
    ]);
  });

  it('when nobody claims an escalation within ESCALATION_SLA_MINUTES, then a reminder goes to the next contact', async () => {
    const user = newNumber();
    await h.send(user, '/human');
    const escalation = await escalationOf(user);
    await h.tick();
    expect(h.sentTo(deskFirst).filter((m) => m.body?.includes(escalation.code))).toHaveLength(1);

    await h.letTimePass(user, 9);
    await h.tick();
    expect(h.sentTo(deskSecond).filter((m) => m.body?.includes(escalation.code))).toHaveLength(0);

    await h.letTimePass(user, 2);
    await h.tick();
    const reminders = h.sentTo(deskSecond).filter((m) => m.body?.includes(escalation.code));
    expect(reminders).toHaveLength(1);
    expect(reminders[0]!.body).toContain(`Reminder: ${escalation.code} is still unclaimed`);
    expect((await escalationOf(user)).reminder_level).toBe(1);
    const events = receiver.calls.map((c) => JSON.parse(c.body) as { event: string; escalation: { code: string } }).filter((e) => e.escalation.code === escalation.code);
    expect(events.map((e) => e.event)).toEqual(['escalation.created', 'escalation.reminder']);
  });

  it('when a staff number writes a question, then it gets the staff commands and never an assistant answer', async () => {
    const before = h.anthropic.requests.length;
    const seen = h.sentTo(deskSecond).length;

    const question = await h.send(deskSecond, 'Can I drink water before surgery?');
    const human = await h.send(deskSecond, '/human');

    const replies = h.sentTo(deskSecond).slice(seen);
    expect(replies).toHaveLength(2);
    expect(replies[0]!.body).toContain("That isn't a staff command");
    expect(replies[0]!.body).toContain('/done E-4821');
    expect(replies[0]!.body).not.toContain('Source');
    expect(h.anthropic.requests.length).toBe(before);
    const inbound = await h.query<{ status: string }>('SELECT status FROM inbound_messages WHERE message_sid = ANY($1::text[])', [[question, human]]);
    expect(inbound.map((r) => r.status)).toEqual(['staff', 'staff']);
    expect(await h.query('SELECT 1 FROM answer_log WHERE turn_sid = ANY($1::text[])', [[question, human]])).toEqual([]);
    expect(await h.query('SELECT 1 FROM escalations WHERE sender_hash = $1', [hashSender(deskSecond)])).toEqual([]);
  });

  it('when the user sends /forget, then the text kept in their escalation and in the staff notifications is erased', async () => {
    const user = newNumber();
    await h.send(user, 'I need to talk to someone about my bill');
    await h.send(user, '/human');
    await h.tick();
    const [before] = await h.query<{ id: string; question: string }>('SELECT id::text AS id, question FROM escalations WHERE sender_hash = $1 ORDER BY id DESC LIMIT 1', [hashSender(user)]);
    expect(before!.question).toBe('/human');
    const [notified] = await h.query<{ body: string }>(`SELECT body FROM escalation_notifications WHERE escalation_id = $1 AND channel = 'whatsapp'`, [before!.id]);
    expect(notified!.body).toContain('my bill');

    await h.send(user, '/forget');

    const escalations = await h.query<{ question: string; last_turns: unknown[] }>('SELECT question, last_turns FROM escalations WHERE sender_hash = $1', [hashSender(user)]);
    expect(escalations.every((e) => e.question === '' && e.last_turns.length === 0)).toBe(true);
    const notifications = await h.query<{ id: string; body: string }>('SELECT id::text AS id, body FROM escalation_notifications WHERE escalation_id = $1', [before!.id]);
    expect(notifications.length).toBeGreaterThan(0);
    expect(notifications.some((n) => n.body.includes('my bill'))).toBe(false);
    const staffCopies = await h.query<{ body: string | null }>('SELECT body FROM outbound_messages WHERE turn_sid = ANY($1::text[])', [notifications.map((n) => `notification:${n.id}`)]);
    expect(staffCopies.map((c) => c.body)).toEqual([null]);
  });

  it('when an escalation is recorded, then the staff webhook gets a JSON event whose signature verifies with the documented HMAC-SHA256 algorithm', async () => {
    const user = newNumber();
    await h.send(user, '/human');
    const escalation = await escalationOf(user);
    receiver.failNext(1); // the endpoint is down once: the event is retried, not lost
    await h.tick();
    await h.letTimePass(user, 1);
    await h.tick();

    const calls = receiver.calls.filter((c) => c.body.includes(escalation.code));
    expect(calls).toHaveLength(1);
    const { headers, body } = calls[0]!;
    const timestamp = String(headers['x-groundline-timestamp']);
    const signature = String(headers['x-groundline-signature']);
    // The algorithm as the README documents it, written out independently of the app's code.
    const expected = `v1=${createHmac('sha256', WEBHOOK_SECRET).update(`${timestamp}.${body}`).digest('hex')}`;
    expect(signature).toBe(expected);
    expect(Math.abs(Date.now() / 1000 - Number(timestamp))).toBeLessThan(300);
    expect(headers['content-type']).toBe('application/json');

    const payload = JSON.parse(body) as { event: string; escalation: Record<string, unknown>; text: string };
    expect(payload.event).toBe('escalation.created');
    expect(payload.escalation).toMatchObject({ code: escalation.code, category: 'user_request', status: 'open', user: user.replace('whatsapp:', '') });
    expect(payload.text).toContain(`#${escalation.code}`);

    expect(verifyWebhookSignature(WEBHOOK_SECRET, { timestamp, signature }, body)).toBe(true);
    expect(verifyWebhookSignature(WEBHOOK_SECRET, { timestamp, signature }, body.replace('user_request', 'urgent'))).toBe(false);
    expect(verifyWebhookSignature('another-secret-0123456789', { timestamp, signature }, body)).toBe(false);
  });
});

describe('escalation: what the user is told', () => {
  const org = { name: 'Larkspur Day Surgery Centre', humanLine: '+1 (555) 555-0200', humanHours: 'Mon–Fri 7:00–19:00', emergencyNumber: '911' };

  it('when staff are on duty, then the user hears who will get back to them, the line with its hours, and the emergency number', () => {
    expect(escalationReply('sensitive', 'en', { ...org, staffOnDuty: true })).toBe(
      'That question needs to be answered by a member of the care team, not by this assistant. A member of the care team has your question and will contact you. You can also call +1 (555) 555-0200 (Mon–Fri 7:00–19:00). In an emergency, call 911.',
    );
    expect(escalationReply('urgent', 'es', { ...org, staffOnDuty: true })).toContain('*Llame ahora al 911*');
    expect(escalationReply('urgent', 'es', { ...org, staffOnDuty: true })).toContain('(Mon–Fri 7:00–19:00). Nuestro equipo ya tiene esta conversación');
  });

  it('when nobody is on duty, then the user is not promised a call back and is given the line and its hours', () => {
    const reply = escalationReply('user_request', 'en', { ...org, staffOnDuty: false });
    expect(reply).toBe('Of course. Please call +1 (555) 555-0200 (Mon–Fri 7:00–19:00) to talk to a person. In an emergency, call 911.');
    expect(escalationReply('urgent', 'en', { ...org, staffOnDuty: false })).not.toContain('Our staff');
  });
});

describe('escalation: STAFF_NUMBERS and the other settings', () => {
  const twilio = { TWILIO_ACCOUNT_SID: `AC${'0123456789abcdef'.repeat(2)}`, TWILIO_AUTH_TOKEN: 'token', TWILIO_WHATSAPP_NUMBER: 'whatsapp:+14155238886' };
  const load = (env: Record<string, string>) => loadConfig({ ...twilio, ...env } as NodeJS.ProcessEnv, { cwd: '/tmp' });
  const problem = (env: Record<string, string>) => {
    try {
      load(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).message;
    }
    throw new Error('expected a ConfigError');
  };

  it('when STAFF_NUMBERS is a plain list, then every category goes to it in order, bare numbers as WhatsApp addresses', () => {
    const config = load({ STAFF_NUMBERS: 'whatsapp:+15551230001, +1 (555) 123-0002' });
    expect(config.escalation.staff).toEqual({ default: ['whatsapp:+15551230001', 'whatsapp:+15551230002'], byCategory: {} });
    expect(config.escalation).toMatchObject({ slaMinutes: 15, handoffIdleMinutes: 120, webhook: undefined, templateSid: undefined });
  });

  it('when STAFF_NUMBERS has per-category groups, then each category gets its own list and the rest the default', () => {
    const config = load({ STAFF_NUMBERS: 'urgent=+15551230009,+15551230001; default=+15551230001' });
    expect(config.escalation.staff).toEqual({ default: ['whatsapp:+15551230001'], byCategory: { urgent: ['whatsapp:+15551230009', 'whatsapp:+15551230001'] } });
  });

  it('when STAFF_NUMBERS is malformed, then the error names the variable, the bad part and an example', () => {
    expect(problem({ STAFF_NUMBERS: 'urgnet=+15551230009;default=+15551230001' })).toMatch(/STAFF_NUMBERS: unknown category "urgnet": use urgent, sensitive, out_of_scope, user_request, failure or default \(e\.g\. STAFF_NUMBERS=/);
    expect(problem({ STAFF_NUMBERS: '+15551230001,5551234' })).toContain('STAFF_NUMBERS: "5551234" is not a phone number: write whatsapp:+<country code><number> or +<country code><number>');
    expect(problem({ STAFF_NUMBERS: 'urgent=+15551230009' })).toContain('STAFF_NUMBERS: nobody would be told about sensitive, out_of_scope, user_request, failure escalations: add a default group');
    expect(problem({ STAFF_NUMBERS: 'whatsapp:+14155238886' })).toContain("STAFF_NUMBERS: contains the assistant's own number");
  });

  it('when the webhook or the template is half configured, then loading fails with what to add', () => {
    expect(problem({ STAFF_WEBHOOK_URL: 'https://tickets.example.org/hook' })).toContain('STAFF_WEBHOOK_SECRET: is required with STAFF_WEBHOOK_URL');
    expect(problem({ STAFF_WEBHOOK_URL: 'https://tickets.example.org/hook', STAFF_WEBHOOK_SECRET: 'short' })).toContain('STAFF_WEBHOOK_SECRET: must be at least 16 characters');
    expect(problem({ WHATSAPP_TEMPLATE_SID: 'HX123' })).toContain('WHATSAPP_TEMPLATE_SID: looks like HX followed by 32 hex characters');
    expect(() => loadConfig({ STAFF_NUMBERS: '+15551230001' } as NodeJS.ProcessEnv, { cwd: '/tmp' })).toThrow(/STAFF_NUMBERS: staff are messaged on WhatsApp, which needs TWILIO_ACCOUNT_SID/);
  });
});
