/**
 * The knowledge database as the server runs it: PGlite + pgvector on disk, shared on a
 * loopback port by pglite-socket (maxConnections 32 in src/store/embedded.ts), our code on a
 * `pg` pool through that socket. LangChain's `pg` pool connects to the same port, so every
 * contender reaches the same database the same way.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createEmbedder } from '../../src/composition.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { openDatabase, type Database } from '../../src/store/index.js';
import type { Embedder } from '../../src/vendors/openai.js';

export interface BenchDatabase {
  db: Database;
  config: Config;
  embedder: Embedder;
  /** The pglite-socket port, for `pg` clients (LangChain). */
  port: number;
  pgOptions: { host: string; port: number; user: string; database: string; max: number };
  close(): Promise<void>;
}

export async function openBenchDatabase(options: { embedUrl: string; dims: number; command: string }): Promise<BenchDatabase> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'groundline-bench-db-'));
  const config = loadConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    OPENAI_API_KEY: 'bench',
    OPENAI_BASE_URL: options.embedUrl,
    EMBEDDING_DIMENSIONS: String(options.dims),
  } as NodeJS.ProcessEnv);
  const db = await openDatabase(config, { role: 'server', command: options.command });
  const lock = JSON.parse(await readFile(path.join(dataDir, 'pglite.lock'), 'utf8')) as { port: number };
  const embedder = createEmbedder(config)!;
  return {
    db,
    config,
    embedder,
    port: lock.port,
    pgOptions: { host: '127.0.0.1', port: lock.port, user: 'postgres', database: 'postgres', max: 8 },
    async close() {
      await db.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
