/**
 * `npm run report`: figures from message records seeded with SQL into one in-memory PGlite,
 * worked out by hand below; the HTML page rendered in headless Chromium (Debian's chromium
 * through playwright-core) to check the charts are really drawn; the CLI's exit codes.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestKnowledge } from '../src/knowledge/index.js';
import { silentLogger } from '../src/logging/index.js';
import { buildReport, formatReport, normaliseQuestion, parseSince, renderHtml, type ProductionReport } from '../src/report/index.js';
import { openDatabase, type Database, type Queryable } from '../src/store/index.js';
import { testConfig } from './support/config.js';
import { knowledgeFolder, preOpGuide, removeAllKnowledgeFolders, tempFolder } from './support/knowledge-factory.js';

const SINCE = new Date('2026-11-17T12:00:00Z');
const UNTIL = new Date('2026-11-20T12:00:00Z');
const at = (iso: string, plusMs = 0) => new Date(new Date(iso).getTime() + plusMs).toISOString();

let db: Database;
let kbVersion: number;

/**
 * Three patients (A, B, C) and a staff number (S), 2026-11-17 12:00 → 2026-11-20 12:00 UTC.
 *
 *   msg  who  received (UTC)       status     reply part 0 sent after   answer_log
 *   m1   A    11-18 09:00:00       answered   2.0 s (+ part 1 at 2.5 s)  answer      v3
 *   m2   A    11-18 09:05:00       escalated  3.5 s                      escalation  out_of_scope "Is there WiFi in the waiting room?"
 *   m3   A    11-19 10:00:00       answered   1.2 s                      answer      v3   (25 h after m2: a new conversation)
 *   m4   B    11-18 14:00:00       escalated  12 s                       escalation  out_of_scope "is there wifi in the waiting room??"
 *   m5   B    11-18 14:00:01       merged     (part of m4's turn)
 *   m6   B    11-20 08:00:00       failed     part 0 failed              fallback    failure (no version)
 *   m7   C    11-19 16:00:00       answered   0.8 s                      answer      v4
 *   m8   C    11-20 11:30:00       received   — (stuck: 30 min unanswered)
 *   m9   S    11-19 12:00:00       staff      (not patient traffic)
 *   m0   A    11-10 …              answered   outside the window
 */
async function seed(q: Queryable): Promise<void> {
  const inbound: Array<[string, string, string, string, string | null]> = [
    ['m1', 'ha', '2026-11-18T09:00:00Z', 'answered', null],
    ['m2', 'ha', '2026-11-18T09:05:00Z', 'escalated', null],
    ['m3', 'ha', '2026-11-19T10:00:00Z', 'answered', null],
    ['m4', 'hb', '2026-11-18T14:00:00Z', 'escalated', null],
    ['m5', 'hb', '2026-11-18T14:00:01Z', 'merged', null],
    ['m6', 'hb', '2026-11-20T08:00:00Z', 'failed', 'GL-TWILIO-001: Twilio did not accept the message'],
    ['m7', 'hc', '2026-11-19T16:00:00Z', 'answered', null],
    ['m8', 'hc', '2026-11-20T11:30:00Z', 'received', null],
    ['m9', 'hs', '2026-11-19T12:00:00Z', 'staff', null],
    ['m0', 'ha', '2026-11-10T09:00:00Z', 'answered', null],
  ];
  for (const [sid, hash, received, status, error] of inbound) {
    await q.query(
      `INSERT INTO inbound_messages (message_sid, sender, sender_hash, recipient, body, status, turn_sid, error, received_at, processed_at)
       VALUES ($1, $2, $3, 'whatsapp:+15550000000', 'seeded', $4, $5, $6, $7, $7::timestamptz + interval '5 seconds')`,
      [sid, `whatsapp:+1555000${hash}`, hash, status, sid === 'm5' ? 'm4' : sid, error, received],
    );
  }
  const outbound: Array<[string, number, string, number | null, string | null]> = [
    ['m1', 0, '2026-11-18T09:00:00Z', 2000, null],
    ['m1', 1, '2026-11-18T09:00:00Z', 2500, null],
    ['m2', 0, '2026-11-18T09:05:00Z', 3500, null],
    ['m3', 0, '2026-11-19T10:00:00Z', 1200, null],
    ['m4', 0, '2026-11-18T14:00:00Z', 12000, null],
    ['m7', 0, '2026-11-19T16:00:00Z', 800, null],
    ['m6', 0, '2026-11-20T08:00:00Z', null, 'Twilio 21610: the recipient has unsubscribed'],
    ['m0', 0, '2026-11-10T09:00:00Z', 900, null],
  ];
  for (const [turn, part, received, afterMs, error] of outbound) {
    await q.query(
      `INSERT INTO outbound_messages (turn_sid, part, kind, recipient, recipient_hash, body, status, error, created_at, sent_at)
       VALUES ($1, $2, 'answer', 'whatsapp:+1555', 'h', 'seeded reply', $3, $4, $5, $6)`,
      [turn, part, afterMs === null ? 'failed' : 'sent', error, at(received, 3000), afterMs === null ? null : at(received, afterMs)],
    );
  }
  const answers: Array<[string, string, string, string | null, string, number | null, string]> = [
    ['m1', 'ha', 'answer', null, 'When can I shower?', 3, '2026-11-18T09:00:01Z'],
    ['m2', 'ha', 'escalation', 'out_of_scope', 'Is there WiFi in the waiting room?', 3, '2026-11-18T09:05:01Z'],
    ['m3', 'ha', 'answer', null, 'can I drink coffee', 3, '2026-11-19T10:00:01Z'],
    ['m4', 'hb', 'escalation', 'out_of_scope', 'is there wifi in the waiting room??', 3, '2026-11-18T14:00:02Z'],
    ['m6', 'hb', 'fallback', 'failure', 'what time do you open', null, '2026-11-20T08:00:01Z'],
    ['m7', 'hc', 'answer', null, 'Parking?', 4, '2026-11-19T16:00:01Z'],
    ['m0', 'ha', 'escalation', 'urgent', 'old question', 2, '2026-11-10T09:00:01Z'],
  ];
  for (const [turn, hash, kind, category, question, version, created] of answers) {
    await q.query(
      `INSERT INTO answer_log (turn_sid, sender_hash, kind, category, reason, question, knowledge_version, model, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'offline-quote', $8)`,
      [turn, hash, kind, category, kind === 'fallback' ? 'the answer pipeline failed: GL-MODEL-001' : null, question, version, created],
    );
  }
}

class Rollback extends Error {}

/** Runs `fn` in a transaction that is always rolled back: schema changes for one test only. */
async function withRollback<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
  let result: T | undefined;
  await db
    .transaction(async (tx) => {
      result = await fn(tx);
      throw new Rollback();
    })
    .catch((error: unknown) => {
      if (!(error instanceof Rollback)) throw error;
    });
  return result!;
}

/** The report as it would be without migration 3 (no escalation records). */
const reportWithoutEscalationTable = () =>
  withRollback(async (tx) => {
    await tx.query('DROP TABLE IF EXISTS escalations CASCADE');
    return buildReport(tx, { since: SINCE, until: UNTIL });
  });

beforeAll(async () => {
  db = await openDatabase(testConfig(), { role: 'cli', command: 'test' });
  const folder = await knowledgeFolder({ 'pre-op.md': preOpGuide() });
  const { knowledge } = testConfig();
  const ingest = (kb: string) =>
    ingestKnowledge(
      { db, embedder: undefined, logger: silentLogger },
      { dir: folder.dir, kb, chunking: { chunkSize: knowledge.chunkSize, chunkOverlap: knowledge.chunkOverlap }, maxDocumentBytes: knowledge.maxDocumentBytes },
    );
  kbVersion = (await ingest('default')).version!;
  await ingest('eval-0123456789ab'); // an eval run's knowledge base: not "in use"
  await seed(db);
});

afterAll(async () => {
  await db?.close();
  await removeAllKnowledgeFolders();
});

describe('report figures', () => {
  let report: ProductionReport;
  beforeAll(async () => {
    report = await reportWithoutEscalationTable();
  });

  it('when messages are counted, then staff and out-of-window ones are left out and conversations split after 24 h of silence', () => {
    // m1..m8 = 8 inbound; people A, B, C; conversations: A {m1,m2} {m3}, B {m4,m5} {m6}, C {m7,m8} = 5.
    expect(report.messages).toEqual({
      inbound: 8,
      outbound: 6, // m1 ×2, m2, m3, m4, m7 (m6 failed, m0 outside)
      senders: 3,
      conversations: 5,
      byStatus: { answered: 3, escalated: 2, failed: 1, merged: 1, received: 1 },
      staff: 1,
    });
  });

  it('when coverage and escalations come from the answer log, then they are per question, by category', () => {
    // 6 questions (m1 m2 m3 m4 m6 m7): answered 3 → coverage 3/6; escalations 3: out_of_scope 2 (2/6), failure 1 (1/6).
    expect(report.questions).toEqual({ total: 6, answered: 3, escalated: 3, coverage: 0.5 });
    expect(report.escalations.source).toBe('answer_log');
    expect(report.escalations.total).toBe(3);
    expect(report.escalations.rate).toBeCloseTo(0.5, 10);
    expect(report.escalations.byCategory.map((c) => [c.category, c.count, Number(c.rate!.toFixed(4))])).toEqual([
      ['out_of_scope', 2, 0.3333],
      ['failure', 1, 0.1667],
    ]);
    expect(report.escalations.byStatus).toBeNull();
  });

  it('when reply times are measured, then each turn runs from the webhook to its first sent part, with nearest-rank percentiles', () => {
    // Turns: 2000 (m1, part 0), 3500, 1200, 12000, 800 → sorted 800 1200 2000 3500 12000:
    // p50 = rank ⌈0.5·5⌉ = 3 → 2000 ms; p95 = rank ⌈0.95·5⌉ = 5 → 12000 ms.
    expect(report.latency).toMatchObject({ turns: 5, p50Ms: 2000, p95Ms: 12000 });
    expect(Object.fromEntries(report.latency.histogram.map((b) => [b.label, b.count]))).toEqual({
      '< 1 s': 1,
      '1–2 s': 1,
      '2–3 s': 1,
      '3–5 s': 1,
      '5–10 s': 0,
      '10–20 s': 1,
      '20–60 s': 0,
      '≥ 60 s': 0,
    });
  });

  it('when failures are listed, then inbound, outbound, fallbacks and stuck messages are counted, newest first', () => {
    expect(report.failures).toMatchObject({ inbound: 1, outbound: 1, fallbacks: 1, stuck: 1 });
    expect(report.failures.recent.map((f) => [f.at, f.where])).toEqual([
      ['2026-11-20T08:00:05.000Z', 'inbound'],
      ['2026-11-20T08:00:03.000Z', 'outbound'],
      ['2026-11-20T08:00:01.000Z', 'answer'],
    ]);
    expect(report.failures.recent[1]!.error).toContain('21610');
  });

  it('when escalated questions are grouped, then different spellings of one question count together and failures are not knowledge gaps', () => {
    expect(normaliseQuestion('  Is there WiFi in the waiting room?? ')).toBe(normaliseQuestion('is there wifi in the waiting room'));
    expect(normaliseQuestion('¿Cirugía mañana?')).toBe('cirugia manana');
    expect(report.topEscalatedQuestions).toEqual([{ question: 'Is there WiFi in the waiting room?', count: 2, categories: ['out_of_scope'], lastAt: '2026-11-18T14:00:02.000Z' }]);
  });

  it('when days are tallied, then every UTC day of the window has its figures, with no coverage on a day without questions', () => {
    expect(report.daily).toEqual([
      { day: '2026-11-17', inbound: 0, outbound: 0, questions: 0, answered: 0, escalated: 0, coverage: null, escalationRate: null },
      { day: '2026-11-18', inbound: 4, outbound: 4, questions: 3, answered: 1, escalated: 2, coverage: 1 / 3, escalationRate: 2 / 3 },
      { day: '2026-11-19', inbound: 2, outbound: 2, questions: 2, answered: 2, escalated: 0, coverage: 1, escalationRate: 0 },
      { day: '2026-11-20', inbound: 2, outbound: 0, questions: 1, answered: 0, escalated: 1, coverage: 0, escalationRate: 1 },
    ]);
  });

  it('when the knowledge in use is reported, then it is the current version of each live knowledge base (eval ones left out)', () => {
    expect(report.knowledge.bases).toEqual([{ kb: 'default', currentVersion: kbVersion, activatedAt: expect.any(String), documents: 1, chunks: 4 }]);
    expect(report.knowledge.answeredWith).toEqual([
      { version: 4, questions: 1 },
      { version: 3, questions: 4 },
      { version: null, questions: 1 },
    ]);
  });

  it('when the report is printed for a terminal, then the headline figures, the gaps and the days are there', () => {
    const text = formatReport(report);

    expect(text).toContain('Groundline report: 2026-11-17 12:00 – 2026-11-20 12:00 UTC');
    expect(text).toContain(`knowledge in use: default v${kbVersion} (1 documents`);
    expect(text).toMatch(/conversations\s+5\s+3 people/);
    expect(text).toMatch(/coverage\s+50\.0%\s+3 answered without escalation/);
    expect(text).toMatch(/out_of_scope\s+2\s+33\.3% of questions/);
    expect(text).toMatch(/median \(p50\)\s+2\.00 s\s+5 turns/);
    expect(text).toMatch(/p95\s+12\.00 s/);
    expect(text).toMatch(/2×\s+Is there WiFi in the waiting room\?\s+\[out_of_scope\]/);
    expect(text).toMatch(/2026-11-18\s+4\s+4\s+3\s+33\.3%\s+66\.7%/);
  });

  it('when the escalation records exist, then escalations are counted from them, by category and status', async () => {
    const fromRecords = await withRollback(async (tx) => {
      // The columns the report relies on; migration 3 has these and more.
      await tx.query('DROP TABLE IF EXISTS escalations CASCADE');
      await tx.query('CREATE TABLE escalations (id bigserial PRIMARY KEY, category text NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL)');
      await tx.query(
        `INSERT INTO escalations (category, status, created_at) VALUES
           ('urgent', 'open', '2026-11-18T10:00:00Z'), ('out_of_scope', 'resolved', '2026-11-19T10:00:00Z'),
           ('out_of_scope', 'claimed', '2026-11-19T11:00:00Z'), ('user_request', 'open', '2026-11-20T09:00:00Z'),
           ('urgent', 'open', '2026-11-01T09:00:00Z')`,
      );
      return buildReport(tx, { since: SINCE, until: UNTIL });
    });

    // 4 in the window over 6 questions; categories by count, then name.
    expect(fromRecords.escalations).toMatchObject({ source: 'escalations', total: 4, byStatus: { claimed: 1, open: 2, resolved: 1 } });
    expect(fromRecords.escalations.rate).toBeCloseTo(4 / 6, 10);
    expect(fromRecords.escalations.byCategory.map((c) => [c.category, c.count])).toEqual([
      ['out_of_scope', 2],
      ['urgent', 1],
      ['user_request', 1],
    ]);
  });

  it('when --since is parsed, then durations and dates work and anything else is refused', () => {
    const now = new Date('2026-11-20T12:00:00Z');
    expect(parseSince('7d', now).toISOString()).toBe('2026-11-13T12:00:00.000Z');
    expect(parseSince('24h', now).toISOString()).toBe('2026-11-19T12:00:00.000Z');
    expect(parseSince('2w', now).toISOString()).toBe('2026-11-06T12:00:00.000Z');
    expect(parseSince('2026-11-01', now).toISOString()).toBe('2026-11-01T00:00:00.000Z');
    for (const bad of ['7', 'yesterday', '0d', '2027-01-01']) expect(() => parseSince(bad, now)).toThrow(/--since/);
  });
});

describe('report HTML', () => {
  let browser: Browser;
  let file: string;
  let html: string;

  beforeAll(async () => {
    const report = await reportWithoutEscalationTable();
    report.topEscalatedQuestions.push({ question: '<script>alert("x")</script> & <b>co</b>', count: 1, categories: ['out_of_scope'], lastAt: '2026-11-19T10:00:00.000Z' });
    html = renderHtml(report, { title: 'Larkspur — assistant report' });
    file = path.join(await tempFolder('groundline-report-'), 'report.html');
    await writeFile(file, html, 'utf8');
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('when the page is built, then it is one self-contained file: no script, no external resource, text escaped', () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\s(src|href)=/i);
    expect(html).not.toMatch(/url\(/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;co&lt;/b&gt;');
  });

  it('when the page opens from disk in headless Chromium, then the three charts are drawn with visible data points', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(file).href);

    const sizes = async (selector: string) =>
      Promise.all(
        (await page.locator(selector).all()).map(async (el) => ({ value: Number(await el.getAttribute('data-value')), box: await el.boundingBox() })),
      );
    // Messages per day: 4 days × (received, sent); the bars with a value have a visible size.
    const bars = await sizes('#chart-messages rect.datum');
    expect(bars).toHaveLength(8);
    expect(bars.map((b) => b.value)).toEqual([0, 0, 4, 4, 2, 2, 2, 0]);
    for (const bar of bars.filter((b) => b.value > 0)) expect(bar.box!.width * bar.box!.height).toBeGreaterThan(0);
    const heights = bars.filter((b) => b.value > 0).map((b) => Math.round(b.box!.height));
    expect(heights[0]).toBe(2 * heights[2]!); // 4 is drawn twice as high as 2
    // Trend: a point per day with questions for coverage and for escalation rate, and the lines.
    const points = await sizes('#chart-trend circle.datum');
    expect(points.map((p) => p.value)).toEqual([0.3333, 1, 0, 0.6667, 0, 1]);
    for (const point of points) expect(point.box!.width).toBeGreaterThan(0);
    expect(await page.locator('#chart-trend polyline').count()).toBe(2);
    const polyBox = await page.locator('#chart-trend polyline').first().boundingBox();
    expect(polyBox!.width).toBeGreaterThan(100);
    // Latency distribution: one bar per bucket, five of them non-empty.
    const buckets = await sizes('#chart-latency rect.datum');
    expect(buckets).toHaveLength(8);
    expect(buckets.filter((b) => b.value > 0 && b.box!.height > 0)).toHaveLength(5);

    expect(await page.locator('h1').textContent()).toBe('Larkspur — assistant report');
    expect(await page.locator('td', { hasText: '<script>' }).count()).toBe(1); // shown as text, not run
    expect(requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))).toEqual([]);
    await page.screenshot({ path: '/tmp/groundline-report.png', fullPage: true });
    await page.close();
  });
});

describe('npm run report', () => {
  it('when run with --json --html on an empty database, then it writes the page and prints the figures; a bad --since exits 2', async () => {
    const out = path.join(await tempFolder('groundline-report-cli-'), 'r.html');
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: 'memory://', DATABASE_URL: '' };
    const cli = (args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/report.ts', ...args], { cwd: path.resolve(import.meta.dirname, '..'), env, timeout: 90_000 }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );

    const [ok, bad] = await Promise.all([cli(['--since', '24h', '--json', '--html', out]), cli(['--since', 'yesterday'])]);

    expect(ok.code, ok.stderr).toBe(0);
    const report = JSON.parse(ok.stdout) as ProductionReport;
    expect(report.questions).toEqual({ total: 0, answered: 0, escalated: 0, coverage: null });
    expect(report.daily.length).toBeGreaterThanOrEqual(1);
    expect(await readFile(out, 'utf8')).toContain('<svg id="chart-messages"');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('usage: npm run report');
  }, 120_000);
});
