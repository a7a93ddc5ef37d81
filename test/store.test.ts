/**
 * The store: migrations, the embedded database's lock and socket sharing, and the ingest CLI
 * run end to end as a content editor runs it (a child process on its own DATA_DIR).
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError, ErrorIds } from '../src/errors/index.js';
import type { IngestSummary } from '../src/knowledge/index.js';
import { migrate, openDatabase, type Database } from '../src/store/index.js';
import { migrations } from '../src/store/migrations.js';
import { startFakeOpenAI, type FakeOpenAI } from './fakes/openai.js';
import { testConfig } from './support/config.js';
import { knowledgeFolder, parkingPage, preOpGuide, removeAllKnowledgeFolders, tempFolder } from './support/knowledge-factory.js';

const run = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '..');

afterAll(() => removeAllKnowledgeFolders());

function lockFileOf(dataDir: string): string {
  return path.join(dataDir, 'pglite.lock');
}

async function readLock(dataDir: string): Promise<{ pid: number; port: number | null; command: string }> {
  return JSON.parse(await readFile(lockFileOf(dataDir), 'utf8')) as { pid: number; port: number | null; command: string };
}

/** A pid that belonged to a process which has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  return child.pid!;
}

describe('migrations', () => {
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase(testConfig(), { role: 'cli', command: 'test' });
  });
  afterAll(() => db?.close());

  it('when migrate runs on a database that is already up to date, then it applies nothing and records nothing new', async () => {
    const recorded = await db.query<{ version: number; applied_at: Date }>('SELECT version, applied_at FROM schema_migrations ORDER BY version');
    expect(recorded.map((r) => r.version)).toEqual(migrations.map((m) => m.version));

    expect(await migrate(db)).toEqual({ applied: [] });
    expect(await migrate(db)).toEqual({ applied: [] });

    expect(await db.query('SELECT version, applied_at FROM schema_migrations ORDER BY version')).toEqual(recorded);
    const tables = await db.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
    expect(tables.map((t) => t.tablename)).toEqual(expect.arrayContaining(['knowledge_bases', 'knowledge_versions', 'documents', 'chunks']));
  });
});

describe('embedded database lock', () => {
  it('when a server holds the data folder, then a cli open shares it over the socket, sees its rows, and closing both removes the lock', async () => {
    const dataDir = await tempFolder('groundline-data-');
    const config = testConfig({ DATA_DIR: dataDir });
    const server = await openDatabase(config, { role: 'server', command: 'npm start' });
    let cli: Database | undefined;
    try {
      const lock = await readLock(dataDir);
      expect(lock).toMatchObject({ pid: process.pid, command: 'npm start', port: expect.any(Number) });
      expect(server.description).toContain(`shared on 127.0.0.1:${lock.port}`);

      await server.query("INSERT INTO knowledge_bases (name) VALUES ('written-by-server')");
      cli = await openDatabase(config, { role: 'cli', command: 'npm run ingest' });

      expect(cli.engine).toBe('postgres');
      expect(cli.description).toMatch(/shared/);
      expect(cli.description).toContain(`process ${process.pid} (npm start)`);
      expect(await cli.query('SELECT name FROM knowledge_bases')).toEqual([{ name: 'written-by-server' }]);
      await cli.transaction(async (tx) => {
        await tx.query("INSERT INTO knowledge_bases (name) VALUES ('written-by-cli')");
      });
      expect(await server.query('SELECT name FROM knowledge_bases ORDER BY name')).toEqual([{ name: 'written-by-cli' }, { name: 'written-by-server' }]);

      await cli.close();
      cli = undefined;
      expect((await readLock(dataDir)).pid).toBe(process.pid); // the server still holds it
    } finally {
      await cli?.close();
      await server.close();
    }
    expect(existsSync(lockFileOf(dataDir))).toBe(false);

    // Reopened after the server is gone: a lock naming this pid that this process does not
    // hold (as after a container restart, where the server is pid 1 again) is stale.
    await writeFile(lockFileOf(dataDir), JSON.stringify({ pid: process.pid, port: null, command: 'npm start', startedAt: new Date().toISOString() }));
    const reopened = await openDatabase(config, { role: 'cli', command: 'npm run ingest' });
    try {
      expect(reopened.engine).toBe('pglite');
      expect(await reopened.query('SELECT name FROM knowledge_bases ORDER BY name')).toEqual([{ name: 'written-by-cli' }, { name: 'written-by-server' }]);
    } finally {
      await reopened.close();
    }
    expect(existsSync(lockFileOf(dataDir))).toBe(false);
  });

  it('when another live process holds the folder without sharing it, then opening fails saying the folder is in use and what to do', async () => {
    const dataDir = await tempFolder('groundline-data-');
    const lock = { pid: process.ppid, port: null, command: 'npm run ingest', startedAt: new Date().toISOString() };
    await writeFile(lockFileOf(dataDir), JSON.stringify(lock));

    const error = await openDatabase(testConfig({ DATA_DIR: dataDir }), { role: 'cli', command: 'npm run ask' }).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).id).toBe(ErrorIds.dataDirInUse);
    expect((error as AppError).message).toContain(`The embedded database in ${dataDir} is in use by process ${process.ppid} (npm run ingest)`);
    expect((error as AppError).message).toMatch(/Wait for it to finish and try again, or set DATABASE_URL/);
    expect(await readLock(dataDir)).toMatchObject({ pid: process.ppid, port: null }); // not stolen
    expect(existsSync(path.join(dataDir, 'pglite'))).toBe(false);
  });
});

describe('npm run ingest (CLI, end to end)', () => {
  let fake: FakeOpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
  });
  afterAll(() => fake?.close());

  function cli(args: string[], dataDir: string) {
    return run('npx', ['tsx', 'scripts/ingest.ts', ...args], {
      cwd: repoRoot,
      env: {
        ...process.env,
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        DATA_DIR: dataDir,
        OPENAI_API_KEY: 'test',
        OPENAI_BASE_URL: fake.url,
        EMBEDDING_DIMENSIONS: '64',
        // Set blank so a developer's .env can never switch these on for the child.
        DATABASE_URL: '',
        REDIS_URL: '',
        ANTHROPIC_API_KEY: '',
        TWILIO_ACCOUNT_SID: '',
        TWILIO_AUTH_TOKEN: '',
        TWILIO_WHATSAPP_NUMBER: '',
      },
    });
  }

  it('when the CLI ingests a folder twice, then the second run embeds nothing and reports no change', async () => {
    const folder = await knowledgeFolder({ 'pre-op.md': preOpGuide(), 'parking.md': parkingPage() });
    const dataDir = await tempFolder('groundline-data-');
    // A lock left by a process that has exited does not block the CLI.
    await writeFile(lockFileOf(dataDir), JSON.stringify({ pid: deadPid(), port: null, command: 'npm start', startedAt: new Date().toISOString() }));

    const first = JSON.parse((await cli(['--dir', folder.dir, '--json'], dataDir)).stdout) as IngestSummary;

    expect(first).toMatchObject({ kb: 'default', dir: folder.dir, mode: 'hybrid', changed: true, files: 2, chunks: 5, embedded: 5 });
    expect(fake.stats.embeddingRequests).toBeGreaterThan(0);
    expect(existsSync(lockFileOf(dataDir))).toBe(false);
    fake.reset();

    const second = JSON.parse((await cli(['--dir', folder.dir, '--json'], dataDir)).stdout) as IngestSummary;

    expect(second).toMatchObject({ changed: false, version: first.version, files: 2, chunks: 5, embedded: 0, reused: 5 });
    expect(fake.stats.embeddingRequests).toBe(0);
  }, 120_000); // two child processes, each booting PGlite on disk
});
