/**
 * Human handoff over WhatsApp: staff answer a user through the bot's number with `#code`,
 * the assistant stays silent while a person has the conversation (the user's messages go to
 * that person), and the conversation comes back after `/done` or HANDOFF_IDLE_MINUTES idle.
 * WhatsApp's 24-hour window: the approved template when configured, a plain word to staff
 * when not.
 *
 * Driven through the signed webhook; new escalations reach staff at once (as in production),
 * time-based work (idle hand-back) runs when a test calls `tick()`.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { hashSender } from '../src/logging/index.js';
import { BOT_NUMBER, codeIn, newNumber, startHarness, type Harness } from './support/escalation.js';

const TEMPLATE_SID = `HX${'a1'.repeat(16)}`;

/** The user asks for a person; returns the code from the notification the staff phone got. */
async function escalate(h: Harness, user: string, staff: string): Promise<string> {
  await h.send(user, '/human');
  const [escalation] = await h.query<{ code: string }>('SELECT code FROM escalations WHERE sender_hash = $1', [hashSender(user)]);
  const notice = await h.waitForMessage(staff, (m) => m.body?.includes(escalation!.code) ?? false);
  return codeIn(notice);
}

async function statusOf(h: Harness, code: string) {
  const [row] = await h.query<{ status: string; claimed_by: string | null; closed_by: string | null }>('SELECT status, claimed_by, closed_by FROM escalations WHERE code = $1', [code]);
  return row;
}

describe('handoff: staff take over and hand back', () => {
  let h: Harness;
  const staff = newNumber();
  const colleague = newNumber();

  beforeAll(async () => {
    h = await startHarness({ STAFF_NUMBERS: `${staff},${colleague}`, HANDOFF_IDLE_MINUTES: '120' }, { escalation: { pollIntervalMs: 0 } });
  });
  afterAll(() => h?.close());

  it('when staff reply with #code, then the user gets the message through the bot number, the escalation is claimed and the relay is recorded', async () => {
    const user = newNumber();
    const code = await escalate(h, user, staff);

    await h.send(staff, `#${code} Hello, this is Sam from the clinic. How can I help?`);

    const relayed = h.sentTo(user).filter((m) => m.body?.includes('Hello, this is Sam'));
    expect(relayed).toHaveLength(1);
    expect(relayed[0]!.from).toBe(BOT_NUMBER);
    expect(relayed[0]!.body).toContain('Larkspur Day Surgery Centre team');
    expect(await statusOf(h, code)).toMatchObject({ status: 'claimed', claimed_by: staff });
    expect(h.sentTo(staff).at(-1)?.body).toContain(`You have ${code}`);
    const outbound = await h.query<{ kind: string; status: string; twilio_sid: string }>(
      `SELECT kind, status, twilio_sid FROM outbound_messages WHERE recipient_hash = $1 AND kind = 'relay'`,
      [hashSender(user)],
    );
    expect(outbound).toEqual([{ kind: 'relay', status: 'sent', twilio_sid: relayed[0]!.sid }]);
  });

  it('when a conversation is claimed, then the assistant stays silent and forwards the user to staff, and after /done it answers again', async () => {
    const user = newNumber();
    const code = await escalate(h, user, staff);
    await h.send(staff, `/claim ${code}`);
    expect(h.sentTo(staff).at(-1)?.body).toContain(`You have ${code}`);

    const modelCalls = h.anthropic.requests.length;
    const userMessages = h.sentTo(user).length;
    await h.send(user, 'Can I drink water before surgery?');

    const forwarded = await h.waitForMessage(staff, (m) => m.body?.includes('Can I drink water before surgery?') ?? false);
    expect(forwarded.body).toContain(code);
    expect(h.sentTo(user)).toHaveLength(userMessages);
    expect(h.anthropic.requests.length).toBe(modelCalls);

    await h.send(staff, `/done ${code}`);
    expect(h.sentTo(user).at(-1)?.body).toContain("You're back with the automated assistant");
    expect(h.sentTo(staff).at(-1)?.body).toContain(`${code} resolved`);
    expect(await statusOf(h, code)).toMatchObject({ status: 'resolved', closed_by: staff });

    await h.send(user, 'Can I drink water before surgery?');
    expect(h.anthropic.requests.length).toBe(modelCalls + 1);
    expect(h.sentTo(user).at(-1)?.body).toContain('Source:');
  });

  it('when a claimed conversation is idle for HANDOFF_IDLE_MINUTES, then it goes back to the assistant and both sides are told', async () => {
    const user = newNumber();
    const code = await escalate(h, user, staff);
    await h.send(colleague, `#${code} Hi, I'm looking into this now.`);
    expect(await statusOf(h, code)).toMatchObject({ status: 'claimed', claimed_by: colleague });

    await h.letTimePass(user, 119);
    await h.tick();
    expect(await statusOf(h, code)).toMatchObject({ status: 'claimed' });

    await h.letTimePass(user, 2);
    await h.tick();
    expect(h.sentTo(user).at(-1)?.body).toContain('Our team member has left this chat');
    expect(h.sentTo(colleague).at(-1)?.body).toContain(`${code}: no messages for 120 min`);
    expect(await statusOf(h, code)).toMatchObject({ status: 'expired', closed_by: 'idle' });
    expect(await h.query('SELECT 1 FROM handoffs WHERE sender_hash = $1', [hashSender(user)])).toEqual([]);

    const modelCalls = h.anthropic.requests.length;
    await h.send(user, 'Can I drink water before surgery?');
    expect(h.anthropic.requests.length).toBe(modelCalls + 1);
    expect(h.sentTo(user).at(-1)?.body).toContain('Source:');
  });

  it('when the user last wrote more than 24 h ago and no template is configured, then nothing is sent to the user and staff are told plainly', async () => {
    const user = newNumber();
    const code = await escalate(h, user, staff);
    const userMessages = h.sentTo(user).length;
    await h.letTimePass(user, 25 * 60);

    await h.send(staff, `#${code} Are you still there?`);

    expect(h.sentTo(user)).toHaveLength(userMessages);
    const told = h.sentTo(staff).at(-1)?.body ?? '';
    expect(told).toContain(`Not delivered to ${code}`);
    expect(told).toContain('last wrote 25 h ago');
    expect(told).toContain('No approved template is configured (WHATSAPP_TEMPLATE_SID)');
    expect(told).toContain(user.replace('whatsapp:', ''));
    const [recorded] = await h.query<{ status: string; error: string }>(`SELECT status, error FROM outbound_messages WHERE recipient_hash = $1 AND kind = 'relay'`, [hashSender(user)]);
    expect(recorded).toMatchObject({ status: 'failed', error: expect.stringContaining('24-hour') });
  });

  it('when Twilio answers 63016 (window closed) and no template is configured, then staff are told the message was not delivered', async () => {
    const user = newNumber();
    const code = await escalate(h, user, staff);
    h.twilio.closeWindow(user);

    await h.send(staff, `#${code} We have your results.`);

    expect(h.sentTo(user).filter((m) => m.body?.includes('We have your results'))).toHaveLength(0);
    expect(h.sentTo(staff).at(-1)?.body).toContain('Twilio error 63016');
    const [recorded] = await h.query<{ status: string; error: string }>(`SELECT status, error FROM outbound_messages WHERE recipient_hash = $1 AND kind = 'relay'`, [hashSender(user)]);
    expect(recorded).toMatchObject({ status: 'failed', error: expect.stringContaining('63016') });
  });
});

describe('handoff: the 24-hour window with an approved template', () => {
  let h: Harness;
  const staff = newNumber();

  beforeAll(async () => {
    h = await startHarness({ STAFF_NUMBERS: staff, WHATSAPP_TEMPLATE_SID: TEMPLATE_SID }, { escalation: { pollIntervalMs: 0 } });
  });
  afterAll(() => h?.close());

  it('when Twilio answers 63016 to a relay, then the template goes to the user and staff are told to resend after the reply', async () => {
    const user = newNumber();
    const code = await escalate(h, user, staff);
    h.twilio.closeWindow(user);

    await h.send(staff, `#${code} Your test results are ready.`);

    const templates = h.sentTo(user).filter((m) => m.contentSid === TEMPLATE_SID);
    expect(templates).toHaveLength(1);
    expect(JSON.parse(templates[0]!.contentVariables ?? '{}')).toEqual({ 1: 'Larkspur Day Surgery Centre', 2: code });
    expect(h.sentTo(staff).at(-1)?.body).toContain('sent them the approved template');
    const rows = await h.query<{ kind: string; status: string; content_sid: string | null }>(
      'SELECT kind, status, content_sid FROM outbound_messages WHERE recipient_hash = $1 AND kind IN ($2, $3) ORDER BY part',
      [hashSender(user), 'relay', 'relay_template'],
    );
    expect(rows).toEqual([
      { kind: 'relay', status: 'failed', content_sid: null },
      { kind: 'relay_template', status: 'sent', content_sid: TEMPLATE_SID },
    ]);
  });

  it("when the staff phone's own 24-hour window is closed, then the new escalation reaches it as the template", async () => {
    const user = newNumber();
    h.twilio.closeWindow(staff);
    try {
      await h.send(user, '/human');
      const [escalation] = await h.query<{ id: string; code: string }>('SELECT id::text AS id, code FROM escalations WHERE sender_hash = $1', [hashSender(user)]);
      const template = await h.waitForMessage(staff, (m) => m.contentSid === TEMPLATE_SID && (m.contentVariables ?? '').includes(escalation!.code));
      expect(JSON.parse(template.contentVariables!)).toEqual({ 1: 'Larkspur Day Surgery Centre', 2: escalation!.code });
      await vi.waitFor(async () => {
        const [n] = await h.query<{ status: string; delivered_as: string }>(`SELECT status, delivered_as FROM escalation_notifications WHERE escalation_id = $1 AND channel = 'whatsapp'`, [escalation!.id]);
        expect(n).toEqual({ status: 'sent', delivered_as: 'template' });
      });
    } finally {
      h.twilio.openWindow(staff);
    }
  });

  it('when the user last wrote more than 24 h ago, then only the template is sent, once, until the user replies', async () => {
    const user = newNumber();
    const code = await escalate(h, user, staff);
    await h.letTimePass(user, 26 * 60);
    const before = h.sentTo(user).length;

    await h.send(staff, `#${code} Checking in about your question.`);
    await h.send(staff, `#${code} Please call us when you can.`);

    const sent = h.sentTo(user).slice(before);
    expect(sent.map((m) => m.contentSid ?? 'free-form')).toEqual([TEMPLATE_SID]);
    expect(h.sentTo(staff).at(-1)?.body).toContain("The template was already sent and the user hasn't replied yet");

    // The user answers the template: the window is open again and the staff member's reply goes through.
    await h.send(user, 'Yes, I am here');
    await h.waitForMessage(staff, (m) => m.body?.includes('Yes, I am here') ?? false);
    await h.send(staff, `#${code} Great, your appointment is confirmed.`);
    expect(h.sentTo(user).at(-1)?.body).toContain('Great, your appointment is confirmed.');
  });
});
