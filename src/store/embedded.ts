/**
 * The embedded PGlite database belongs to one process at a time. The process that opens it
 * writes a lock file; a server also shares it on a loopback port (pglite-socket) so that
 * `npm run ingest`, `ask` and `eval` can use it through `pg` while the server runs.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
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

/** The part of pglite-socket's (internal) query queue that its connection handlers call. */
interface SocketQueryQueue {
  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number>;
  clearQueueForHandler(handlerId: number): void;
}

/** Parse, Bind, Describe, Execute, Close: the messages of an extended query, up to its Sync. */
const extendedQueryMessages = new Set([...'PBDEC'].map((c) => c.charCodeAt(0)));

/**
 * pglite-socket 0.2 queues every protocol message on its own and keeps a connection's turn
 * only inside a transaction. Two connections' Parse/Bind/Execute/Sync can then interleave on
 * PGlite's single backend and use each other's unnamed statement ("bind message supplies 2
 * parameters, but prepared statement "" requires 5", "portal "" does not exist"): under
 * concurrent load (50 senders at once in `npm run bench`) some turns failed. Each connection's
 * extended-query messages are held until its Sync (or any other message) and handed to PGlite
 * as one, which PGlite runs in order.
 */
function keepExtendedQueriesWhole(socket: PGLiteSocketServer): void {
  const queue = (socket as unknown as { queryQueue?: Partial<SocketQueryQueue> }).queryQueue;
  if (typeof queue?.enqueue !== 'function' || typeof queue.clearQueueForHandler !== 'function') return;
  const enqueue = queue.enqueue.bind(queue);
  const clear = queue.clearQueueForHandler.bind(queue);
  const held = new Map<number, Uint8Array[]>();
  queue.enqueue = (handlerId, message, onData) => {
    const waiting = held.get(handlerId) ?? [];
    if (extendedQueryMessages.has(message[0]!)) {
      held.set(handlerId, [...waiting, message]);
      return Promise.resolve(0);
    }
    held.delete(handlerId);
    return enqueue(handlerId, waiting.length === 0 ? message : Buffer.concat([...waiting, message]), onData);
  };
  queue.clearQueueForHandler = (handlerId) => {
    held.delete(handlerId);
    clear(handlerId);
  };
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
  let db;
  try {
    db = await createPGlite(path.join(options.dataDir, 'pglite'));
  } catch (error) {
    release();
    throw error;
  }
  if (options.role === 'cli') {
    return pgliteDatabase(db, `embedded PGlite in ${options.dataDir}`, async () => release());
  }

  // The server talks to its own PGlite through the socket too: the socket's queue keeps each
  // connection's transaction whole, which would not hold if we also queried PGlite directly.
  const socket = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 32 });
  keepExtendedQueriesWhole(socket);
  await socket.start();
  const port = Number(socket.getServerConn().split(':').pop());
  writeFileSync(lockFile, JSON.stringify({ pid: process.pid, port, command: options.command, startedAt: new Date().toISOString() } satisfies LockFile));
  const shared = await openPostgres({ host: '127.0.0.1', port, description: `embedded PGlite in ${options.dataDir} (shared on 127.0.0.1:${port})`, max: 8, prepareStatements: true });
  return {
    ...shared,
    async close() {
      await shared.close();
      await socket.stop();
      await db.close();
      release();
    },
  };
}
