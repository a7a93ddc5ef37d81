/**
 * The embedded PGlite database belongs to one process at a time. The process that opens it
 * writes a lock file; a server also shares it on a loopback port (pglite-socket) so that
 * `npm run ingest`, `ask` and `eval` can use it through `pg` while the server runs.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { AppError, ErrorIds } from '../errors/index.js';
import type { Database } from './database.js';
import { createPGlite, pgliteDatabase } from './pglite.js';
import { openPostgres } from './postgres.js';

interface LockFile {
  pid: number;
  port: number | null;
  command: string;
  startedAt: string;
}

export type EmbeddedRole = 'server' | 'cli';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(file: string): LockFile | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockFile;
  } catch {
    return undefined; // absent or half-written: treated as no lock
  }
}

/**
 * Lock files this process holds right now. A lock naming our own pid is ours only when it is
 * in here; otherwise it was left by an earlier process that had the same pid (pid 1 in a
 * container) and is stale.
 */
const heldLocks = new Set<string>();

/** Takes the lock atomically; a stale lock (its process is gone) is replaced. */
function acquireLock(file: string, command: string): LockFile | undefined {
  const mine: LockFile = { pid: process.pid, port: null, command, startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      writeFileSync(file, JSON.stringify(mine), { flag: 'wx' });
      heldLocks.add(file);
      return undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readLock(file);
      if (holder && (holder.pid === process.pid ? heldLocks.has(file) : isAlive(holder.pid))) return holder;
      rmSync(file, { force: true });
    }
  }
  return readLock(file);
}

export async function openEmbedded(options: {
  dataDir: string;
  role: EmbeddedRole;
  command: string;
}): Promise<Database> {
  if (options.dataDir === 'memory://') {
    return pgliteDatabase(await createPGlite(undefined), 'embedded PGlite (in memory)');
  }
  mkdirSync(options.dataDir, { recursive: true });
  const lockFile = path.join(options.dataDir, 'pglite.lock');
  const holder = acquireLock(lockFile, options.command);
  if (holder) {
    if (holder.port) {
      return openPostgres({
        host: '127.0.0.1',
        port: holder.port,
        description: `embedded PGlite shared by process ${holder.pid} (${holder.command})`,
        max: 4,
      });
    }
    throw new AppError(
      ErrorIds.dataDirInUse,
      `The embedded database in ${options.dataDir} is in use by process ${holder.pid} (${holder.command}). ` +
        'Wait for it to finish and try again, or set DATABASE_URL to use a PostgreSQL server.',
      { context: { dataDir: options.dataDir, pid: holder.pid }, status: 503 },
    );
  }

  const release = () => {
    heldLocks.delete(lockFile);
    const current = readLock(lockFile);
    if (current?.pid === process.pid) rmSync(lockFile, { force: true });
  };
  if (options.role === 'cli') {
    let db;
    try {
      db = await createPGlite(path.join(options.dataDir, 'pglite'));
    } catch (error) {
      release();
      throw error;
    }
    return pgliteDatabase(db, `embedded PGlite in ${options.dataDir}`, async () => release());
  }

  // The server runs PGlite on its own thread and talks to it through the socket, like the
  // CLIs do: the socket's queue keeps each connection's transaction whole.
  let thread: DatabaseThread;
  try {
    thread = await startDatabaseThread(path.join(options.dataDir, 'pglite'));
  } catch (error) {
    release();
    throw error;
  }
  const port = thread.port;
  writeFileSync(lockFile, JSON.stringify({ pid: process.pid, port, command: options.command, startedAt: new Date().toISOString() } satisfies LockFile));
  let shared: Database;
  try {
    shared = await openPostgres({ host: '127.0.0.1', port, description: `embedded PGlite in ${options.dataDir} (shared on 127.0.0.1:${port})`, max: 8, prepareStatements: true });
  } catch (error) {
    await thread.close();
    release();
    throw error;
  }
  return {
    ...shared,
    async close() {
      await shared.close();
      await thread.close();
      release();
    },
  };
}

interface DatabaseThread {
  port: number;
  close(): Promise<void>;
}

type ThreadMessage = { port: number } | { error: { message: string; stack?: string } } | { closed: true; error?: { message: string } };

/** Starts src/store/embedded-worker.mjs: PGlite and its socket server on a worker thread. */
async function startDatabaseThread(dataDir: string): Promise<DatabaseThread> {
  const worker = new Worker(new URL('./embedded-worker.mjs', import.meta.url), { workerData: { dataDir, maxConnections: 32 } });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  const next = () =>
    new Promise<ThreadMessage>((resolve, reject) => {
      const onMessage = (message: ThreadMessage) => {
        worker.off('error', onError);
        resolve(message);
      };
      const onError = (error: Error) => {
        worker.off('message', onMessage);
        reject(error);
      };
      worker.once('message', onMessage);
      worker.once('error', onError);
      void exited.then((code) => reject(new Error(`the database thread exited (code ${code})`)));
    });
  const fail = (message: string, cause?: unknown) =>
    new AppError(ErrorIds.databaseUnavailable, `Cannot start the embedded database in ${dataDir}: ${message}`, { cause, context: { dataDir }, status: 503 });
  let ready: ThreadMessage;
  try {
    ready = await next();
  } catch (error) {
    await worker.terminate();
    throw fail((error as Error).message, error);
  }
  if (!('port' in ready)) {
    await worker.terminate();
    throw fail('error' in ready && ready.error ? ready.error.message : 'unexpected reply from the database thread');
  }
  let closing: Promise<void> | undefined;
  return {
    port: ready.port,
    close() {
      closing ??= (async () => {
        const done = next().catch(() => undefined);
        worker.postMessage('close');
        await done;
        await worker.terminate();
      })();
      return closing;
    },
  };
}
