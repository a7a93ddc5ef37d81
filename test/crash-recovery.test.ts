/**
 * Crash after acknowledgement: the real server (`src/main.ts`) runs as a child process on an
 * on-disk embedded database; it is SIGKILLed while a message is with the model, started again,
 * and must answer that message exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slowReply, citedAnswer, startFakeAnthropic, type FakeAnthropic } from './fakes/anthropic.js';
import { startFakeTwilio, type FakeTwilio } from './fakes/twilio.js';
import { TWILIO_NUMBER, citedEcho, newSender, questionOf, removeDir, waitFor, webhookClient, writeKnowledgeFixture, channelEnv } from './support/whatsapp.js';

const repoRoot = path.resolve(import.meta.dirname, '..');

let twilioFake: FakeTwilio;
let anthropic: FakeAnthropic;
let knowledgeDir: string;
let dataDir: string;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  [twilioFake, anthropic, knowledgeDir, dataDir] = await Promise.all([
    startFakeTwilio(),
    startFakeAnthropic(),
    writeKnowledgeFixture(),
    mkdtemp(path.join(tmpdir(), 'groundline-crash-data-')),
  ]);
  anthropic.setDefaultReply(citedEcho());
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all([twilioFake?.close(), anthropic?.close(), removeDir(knowledgeDir), removeDir(dataDir)]);
});

interface Server {
  child: ChildProcess;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: string[];
}

/** `npm start` as a child process (node + tsx, one process, so a signal reaches the server itself). */
async function startServer(): Promise<Server> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmpdir(),
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    ...channelEnv({ twilio: twilioFake, anthropic, knowledgeDir }),
    DATA_DIR: dataDir,
    ANTHROPIC_MAX_RETRIES: '0',
    BURST_WINDOW_MS: '100',
    // Blank = unset, whatever a developer's .env says.
    DATABASE_URL: '',
    REDIS_URL: '',
    OPENAI_API_KEY: '',
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const output: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        output.push(line);
        try {
          const entry = JSON.parse(line) as { msg?: string; port?: number };
          if (entry.msg === 'groundline is running' && entry.port) resolve(entry.port);
        } catch {
          // not a log line
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    void exited.then(({ code, signal }) => reject(new Error(`server exited before it was running (code ${code}, signal ${signal}):\n${output.join('\n')}`)));
  });
  return { child, port, exited, output };
}

describe('crash after acknowledgement', () => {
  it('when the server is killed while a message is with the model, then after a restart the message is answered exactly once', async () => {
    const from = newSender();
    const question = 'Can I drink water before surgery? (crash)';
    // The first attempt never comes back before the crash.
    anthropic.enqueue(slowReply(60_000, citedAnswer([{ text: 'too late', cite: { searchResultIndex: 0 } }])));

    const first = await startServer();
    const { sid, response } = await webhookClient({ port: first.port, authToken: twilioFake.authToken }).text(from, question);
    expect(response.status).toBe(200);
    await waitFor(() => anthropic.requests.some((r) => questionOf(r) === question), 'the question to reach the model', 20_000);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    expect(twilioFake.sent.filter((m) => m.to === from)).toHaveLength(0);

    // Started again on the same data: the acknowledged, unanswered message is resumed.
    const second = await startServer();
    await twilioFake.waitForSent(1, 30_000);
    // A graceful stop finishes anything in flight: after it, nothing more can be sent.
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);

    const replies = twilioFake.sent.filter((m) => m.to === from);
    expect(replies.map((m) => m.body)).toEqual([expect.stringContaining(`Answer to: ${question}`)]);
    expect(anthropic.requests.filter((r) => questionOf(r) === question)).toHaveLength(2);
    expect(second.output.join('\n')).toContain(sid);
  }, 120_000);
});
