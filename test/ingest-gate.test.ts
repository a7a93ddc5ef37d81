/**
 * The ingest gate: a new knowledge version is built without being activated, evaluated, and
 * switched to only when it meets the thresholds. Real ingest, real retrieval, the offline
 * answerer, one in-memory PGlite for the file (each test uses its own knowledge base).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnswerer } from '../src/composition.js';
import { ErrorIds } from '../src/errors/index.js';
import { ingestWithEvalGate, parseEvalSet, parseThresholds, type GateResult } from '../src/eval/index.js';
import { activateVersion, currentVersion, ingestKnowledge, rejectVersion, type IngestSummary } from '../src/knowledge/index.js';
import { silentLogger } from '../src/logging/index.js';
import { answerQuestion, retrieveContext } from '../src/rag/index.js';
import { openDatabase, type Database } from '../src/store/index.js';
import { testConfig } from './support/config.js';
import { knowledgeFolder, markdown, removeAllKnowledgeFolders, tempFolder, type KnowledgeFolder } from './support/knowledge-factory.js';

const config = testConfig();
const { knowledge } = config;

const fasting = (clearLiquids = 'You may drink water and other clear liquids until 2 hours before your arrival time.') =>
  markdown({
    frontMatter: { title: 'Fasting before surgery', lang: 'en' },
    h1: 'Fasting before surgery',
    sections: [
      { heading: '## Clear liquids', text: clearLiquids },
      { heading: '## Solid food', text: 'Stop eating solid food 8 hours before your arrival time.' },
    ],
  });
const woundCare = markdown({
  frontMatter: { title: 'Caring for your wound', lang: 'en' },
  h1: 'Caring for your wound',
  sections: [{ heading: '## Showering', text: 'After 48 hours you may shower with the waterproof dressing in place.' }],
});
const parking = markdown({
  frontMatter: { title: 'Parking', lang: 'en' },
  h1: 'Parking',
  sections: [{ heading: '## Visitor parking', text: 'Visitor parking for patients is free on level P1 of the garage.' }],
});

const setYaml = `
- {id: g-water, question: "Can I drink water before surgery?", lang: en, expect: answer, sources: [fasting.md], facts: ["2 hours"]}
- {id: g-shower, question: "When can I shower after surgery?", lang: en, expect: answer, sources: [wound-care.md], facts: ["48 hours"]}
- {id: g-chest, question: "I have chest pain and can't breathe", lang: en, expect: escalate}
`;
const cases = parseEvalSet(setYaml, 'gate.yaml');
const thresholds = parseThresholds(['hit@3=1', 'escalation_recall=1'], 3);

let db: Database;

beforeAll(async () => {
  db = await openDatabase(config, { role: 'cli', command: 'test' });
});

afterAll(async () => {
  await db?.close();
  await removeAllKnowledgeFolders();
});

function ingest(kb: string, dir: string, activate?: boolean): Promise<IngestSummary> {
  return ingestKnowledge(
    { db, embedder: undefined, logger: silentLogger },
    { dir, kb, activate, chunking: { chunkSize: knowledge.chunkSize, chunkOverlap: knowledge.chunkOverlap }, maxDocumentBytes: knowledge.maxDocumentBytes },
  );
}

function gate(kb: string, dir: string): Promise<GateResult> {
  return ingestWithEvalGate(
    { db, embedder: undefined, answerer: createAnswerer(config), organisation: config.organisation, logger: silentLogger },
    {
      ingest: { dir, kb, chunking: { chunkSize: knowledge.chunkSize, chunkOverlap: knowledge.chunkOverlap }, maxDocumentBytes: knowledge.maxDocumentBytes },
      cases,
      set: 'gate.yaml',
      k: 3,
      topK: config.retrieval.topK,
      thresholds,
    },
  );
}

/** What a query sees at `version`, with the visibility rule retrieval uses. */
async function visibleAt(kb: string, version: number): Promise<string[]> {
  const rows = await db.query<{ source: string; content: string }>(
    'SELECT source, content FROM chunks c WHERE kb = $1 AND added_in <= $2 AND (retired_in IS NULL OR retired_in > $2) ORDER BY source, ordinal',
    [kb, version],
  );
  return rows.map((r) => `${r.source}: ${r.content}`);
}

async function versionRow(id: number): Promise<{ status: string; activated_at: Date | null; error: string | null }> {
  const [row] = await db.query<{ status: string; activated_at: Date | null; error: string | null }>('SELECT status, activated_at, error FROM knowledge_versions WHERE id = $1', [id]);
  return row!;
}

const ask = (kb: string, question: string) =>
  answerQuestion({ db, embedder: undefined, answerer: createAnswerer(config), organisation: config.organisation }, { question, kb, topK: config.retrieval.topK });

async function folderWith(files: Record<string, string>): Promise<KnowledgeFolder> {
  return knowledgeFolder(files);
}

describe('building a version without activating it', () => {
  it('when a version is built with activate: false, then the current version keeps answering and the new rows are visible only at the new version', async () => {
    const folder = await folderWith({ 'fasting.md': fasting(), 'wound-care.md': woundCare });
    const first = await ingest('pending', folder.dir);
    const before = await visibleAt('pending', first.version!);
    await folder.write('fasting.md', fasting('You may drink water until 3 hours before your arrival time.'));

    const built = await ingest('pending', folder.dir, false);

    expect(built).toMatchObject({ changed: true, activated: false, previousVersion: first.version, documents: { updated: ['fasting.md'] } });
    expect(await currentVersion(db, 'pending')).toBe(first.version);
    expect(await versionRow(built.version!)).toMatchObject({ status: 'active', activated_at: null });
    expect(await visibleAt('pending', first.version!)).toEqual(before);
    const now = await retrieveContext({ db, embedder: undefined }, { kb: 'pending', question: 'drink water', topK: 1 });
    const next = await retrieveContext({ db, embedder: undefined }, { kb: 'pending', question: 'drink water', topK: 1, version: built.version! });
    expect(now.chunks[0]!.content).toContain('2 hours');
    expect(next.chunks[0]!.content).toContain('3 hours');

    await activateVersion(db, 'pending', built.version!);

    expect(await currentVersion(db, 'pending')).toBe(built.version);
    expect(await versionRow(first.version!)).toMatchObject({ status: 'superseded' });
    expect((await ask('pending', 'Can I drink water before surgery?')).text).toContain('3 hours');
    await expect(activateVersion(db, 'pending', built.version!)).rejects.toMatchObject({ id: ErrorIds.knowledgeVersionNotPending });
  });

  it('when a pending version is rejected, then its rows are gone, the rows it retired serve again, and it stays on record as rejected', async () => {
    const folder = await folderWith({ 'fasting.md': fasting(), 'wound-care.md': woundCare });
    const first = await ingest('reject', folder.dir);
    const before = await visibleAt('reject', first.version!);
    await folder.write('fasting.md', fasting('Nothing by mouth after midnight.'));
    await folder.remove('wound-care.md');
    const built = await ingest('reject', folder.dir, false);

    await rejectVersion(db, 'reject', built.version!, 'hit@3 below 1');

    expect(await versionRow(built.version!)).toMatchObject({ status: 'rejected', activated_at: null, error: 'hit@3 below 1' });
    expect(await db.query('SELECT 1 FROM documents WHERE kb = $1 AND (added_in = $2 OR retired_in = $2)', ['reject', built.version])).toEqual([]);
    expect(await db.query('SELECT 1 FROM chunks WHERE kb = $1 AND (added_in = $2 OR retired_in = $2)', ['reject', built.version])).toEqual([]);
    expect(await visibleAt('reject', first.version!)).toEqual(before);
    expect(await currentVersion(db, 'reject')).toBe(first.version);
    await expect(activateVersion(db, 'reject', built.version!)).rejects.toThrow(/not waiting to be activated \(rejected\)/);

    // The next ingest starts from the live version, so the same change is planned again.
    const again = await ingest('reject', folder.dir);
    expect(again.documents).toMatchObject({ updated: ['fasting.md'], removed: ['wound-care.md'] });
  });

  it('when an ingest starts while an earlier version was left pending (an interrupted gate), then that version is rolled back first', async () => {
    const folder = await folderWith({ 'fasting.md': fasting(), 'wound-care.md': woundCare });
    const first = await ingest('abandoned', folder.dir);
    await folder.write('parking.md', parking);
    const left = await ingest('abandoned', folder.dir, false);
    await folder.remove('parking.md');
    await folder.write('fasting.md', fasting('You may drink water until 3 hours before your arrival time.'));

    const next = await ingest('abandoned', folder.dir);

    expect(await versionRow(left.version!)).toMatchObject({ status: 'rejected', error: expect.stringContaining('abandoned') });
    expect(next).toMatchObject({ activated: true, previousVersion: first.version, documents: { added: [], updated: ['fasting.md'], removed: [] } });
    const sources = (await visibleAt('abandoned', next.version!)).map((s) => s.split(':')[0]);
    expect([...new Set(sources)]).toEqual(['fasting.md', 'wound-care.md']);
    await expect(activateVersion(db, 'abandoned', left.version!)).rejects.toMatchObject({ id: ErrorIds.knowledgeVersionNotPending });
  });
});

describe('ingest --eval (the gate)', () => {
  it('when a change breaks answers, then the new version is rejected, the previous one keeps serving, and the report says why', async () => {
    const folder = await folderWith({ 'fasting.md': fasting(), 'wound-care.md': woundCare });
    const first = await ingest('gate-bad', folder.dir);
    await folder.remove('wound-care.md');

    const result = await gate('gate-bad', folder.dir);

    expect(result.decision).toBe('rejected');
    expect(result.servingVersion).toBe(first.version);
    expect(result.reasons).toEqual(['hit@3 = 0.500, below 1']);
    expect(result.eval.knowledgeVersion).toBe(result.ingest.version);
    expect(result.eval.cases.find((c) => c.id === 'g-shower')?.problems.join(' ')).toContain('no passage from wound-care.md');
    expect(await currentVersion(db, 'gate-bad')).toBe(first.version);
    expect(await versionRow(result.ingest.version!)).toMatchObject({ status: 'rejected', error: expect.stringContaining('hit@3 = 0.500, below 1') });
    const shower = await ask('gate-bad', 'When can I shower after surgery?');
    expect(shower).toMatchObject({ kind: 'answer', knowledgeVersion: first.version });
    expect(shower.citations[0]?.source).toBe('wound-care.md');
  });

  it('when a change keeps the thresholds, then the gate switches to the new version; re-run unchanged, it stays', async () => {
    const folder = await folderWith({ 'fasting.md': fasting(), 'wound-care.md': woundCare });
    const first = await ingest('gate-good', folder.dir);
    await folder.write('parking.md', parking);

    const result = await gate('gate-good', folder.dir);

    expect(result).toMatchObject({ decision: 'activated', reasons: [], ingest: { activated: true, previousVersion: first.version } });
    expect(result.servingVersion).toBe(result.ingest.version);
    expect(await currentVersion(db, 'gate-good')).toBe(result.ingest.version);
    expect(await versionRow(first.version!)).toMatchObject({ status: 'superseded' });
    expect((await ask('gate-good', 'Is visitor parking free for patients?')).citations[0]?.source).toBe('parking.md');

    const rerun = await gate('gate-good', folder.dir);
    expect(rerun).toMatchObject({ decision: 'unchanged', servingVersion: result.ingest.version, reasons: [] });
  });

  it('when npm run ingest -- --eval misses a threshold, then it exits 1 and says the previous version keeps serving', async () => {
    const folder = await folderWith({ 'fasting.md': fasting() });
    const setFile = path.join(await tempFolder('groundline-gate-'), 'gate.yaml');
    await writeFile(setFile, setYaml);
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: 'memory://', ANTHROPIC_API_KEY: '', OPENAI_API_KEY: '', DATABASE_URL: '', REDIS_URL: '' };
    const args = ['--import', 'tsx', 'scripts/ingest.ts', '--dir', folder.dir, '--eval', setFile, '--k', '3', '--fail-under', 'hit@3=1', 'escalation_recall=1'];

    const outcome = await promisify(execFile)(process.execPath, args, { cwd: path.resolve(import.meta.dirname, '..'), env, timeout: 90_000 }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

    expect(outcome.code, outcome.stderr).toBe(1);
    expect(outcome.stdout).toContain('built, not activated');
    expect(outcome.stdout).toMatch(/Gate FAILED: version \d+ was rejected and removed; knowledge base "default" keeps serving nothing/);
    expect(outcome.stdout).toContain('✗ hit@3 = 0.500, below 1');
  }, 120_000);
});
