/**
 * `npm run ask` end to end: the real scripts in child processes, on an embedded database in a
 * temp folder, with the offline answerer (no vendor keys, so no network).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestSummary } from '../src/knowledge/index.js';
import type { AnswerResult } from '../src/rag/index.js';
import { CLEAR_LIQUIDS, makeTempDir, removeTempDir, writeFaq } from './support/rag-factory.js';

const run = promisify(execFile);
const cwd = path.resolve(import.meta.dirname, '..');

let root: string;
let env: NodeJS.ProcessEnv;

/** Runs `npx tsx scripts/<script> ...args` in the project folder; resolves with stdout and the exit code. */
async function tsx(script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('npx', ['tsx', `scripts/${script}`, ...args], { cwd, env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

beforeAll(async () => {
  root = await makeTempDir('groundline-ask-');
  const fixtures = path.join(root, 'knowledge');
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATA_DIR: path.join(root, 'data'),
    KNOWLEDGE_BASE: 'clinic',
    KNOWLEDGE_DIR: fixtures,
    // Set (empty) so a developer's .env cannot supply real keys or a server: offline answerer, embedded DB.
    ANTHROPIC_API_KEY: '',
    OPENAI_API_KEY: '',
    DATABASE_URL: '',
    REDIS_URL: '',
  };
  await writeFaq(fixtures);
  const ingest = await tsx('ingest.ts', ['--json', '--dir', fixtures]);
  expect(ingest.code, ingest.stderr).toBe(0);
  expect(ingest.stderr).not.toMatch(/error/i);
  const summary = JSON.parse(ingest.stdout) as IngestSummary;
  expect(summary).toMatchObject({ kb: 'clinic', changed: true, mode: 'full-text only', files: 4 });
}, 60_000);

afterAll(async () => {
  if (root) await removeTempDir(root);
});

describe('npm run ask', () => {
  it('when a question the documents answer is asked with --json, then the result is an answer with a citation', async () => {
    const { code, stdout, stderr } = await tsx('ask.ts', ['--json', 'Can I drink water before surgery?']);

    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout) as AnswerResult;
    expect(result).toMatchObject({ kind: 'answer', model: 'offline-quote', offline: true, knowledgeVersion: expect.any(Number) });
    expect(result.citations[0]).toMatchObject({ source: 'fasting.md', heading: 'Fasting > Clear liquids' });
    expect(result.text).toContain(CLEAR_LIQUIDS);
  });

  it('when an off-topic question is asked, then the result is an out_of_scope escalation', async () => {
    const { code, stdout, stderr } = await tsx('ask.ts', ['--json', "what's the weather in Paris?"]);

    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout) as AnswerResult;
    expect(result).toMatchObject({ kind: 'escalation', escalation: { category: 'out_of_scope' }, citations: [] });
    expect(result.text).toContain('+1 (555) 555-0200');
  });

  it('when asked without --json, then the reply is printed as the user would read it, with a metadata line', async () => {
    const { code, stdout, stderr } = await tsx('ask.ts', ['Can I drink water before surgery?']);

    expect(code, stderr).toBe(0);
    expect(stdout).toContain(`${CLEAR_LIQUIDS}\n\nSource: fasting.md`);
    expect(stdout).toMatch(/\[answer \(1 citation\) · model offline-quote \(offline answerer\) · knowledge v\d+ · \d+ ms\]/);
  });

  it('when no question is given, then it prints the usage and exits with 2', async () => {
    const { code, stderr } = await tsx('ask.ts', ['--json']);

    expect(code).toBe(2);
    expect(stderr).toContain('usage: npm run ask');
  });
});
