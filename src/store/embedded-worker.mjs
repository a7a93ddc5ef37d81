// @ts-check
/**
 * The embedded database's own thread: PGlite (PostgreSQL compiled to WASM, with pgvector)
 * and the pglite-socket server that shares it on a loopback port.
 *
 * Why a thread: PGlite runs every statement synchronously on the thread that owns it. On the
 * server's main thread, each statement stalled webhooks and every other turn; here SQL runs on
 * the second core while the main thread speaks HTTP and the pg protocol.
 *
 * Plain JavaScript on purpose: a worker entry has to load in plain Node, under tsx and under
 * vitest alike, and none of them agree on how to load TypeScript in a worker.
 *
 * Protocol with src/store/embedded.ts: workerData { dataDir, maxConnections }; posts
 * { port } when serving or { error } if it could not start; on the message 'close' it stops
 * serving, closes PGlite (flushing it to disk) and posts { closed: true }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** Parse, Bind, Describe, Execute, Close: the messages of an extended query, up to its Sync. */
const extendedQueryMessages = new Set([...'PBDEC'].map((c) => c.charCodeAt(0)));

/**
 * pglite-socket 0.2 queues every protocol message on its own and keeps a connection's turn
 * only inside a transaction. Two connections' Parse/Bind/Execute/Sync can then interleave on
 * PGlite's single backend and use each other's unnamed statement ("bind message supplies 2
 * parameters, but prepared statement "" requires 5", "portal "" does not exist"): under
 * concurrent load (50 senders at once in `npm run bench`) some turns failed. Each connection's
 * extended-query messages are held until its Sync (or any other message) and handed to PGlite
 * as one, which PGlite runs in order. This wraps an internal of pglite-socket: check it on
 * upgrades (test/store.test.ts drives concurrent connections through it).
 *
 * @param {PGLiteSocketServer} socket
 */
function keepExtendedQueriesWhole(socket) {
  /** @type {{ enqueue?: (id: number, message: Uint8Array, onData: (data: Uint8Array) => void) => Promise<number>, clearQueueForHandler?: (id: number) => void } | undefined} */
  const queue = /** @type {any} */ (socket).queryQueue;
  if (!queue || typeof queue.enqueue !== 'function' || typeof queue.clearQueueForHandler !== 'function') return;
  const enqueue = queue.enqueue.bind(queue);
  const clear = queue.clearQueueForHandler.bind(queue);
  /** @type {Map<number, Uint8Array[]>} */
  const held = new Map();
  queue.enqueue = (handlerId, message, onData) => {
    const waiting = held.get(handlerId) ?? [];
    if (extendedQueryMessages.has(message[0] ?? 0)) {
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

const port = parentPort;
if (!port) throw new Error('embedded-worker.mjs runs as a worker thread (see src/store/embedded.ts)');
const { dataDir, maxConnections } = /** @type {{ dataDir: string, maxConnections: number }} */ (workerData);

try {
  const db = await PGlite.create({ dataDir, extensions: { vector } });
  const socket = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections });
  keepExtendedQueriesWhole(socket);
  await socket.start();
  port.on('message', (message) => {
    if (message !== 'close') return;
    (async () => {
      await socket.stop();
      await db.close();
    })().then(
      () => port.postMessage({ closed: true }),
      (error) => port.postMessage({ closed: true, error: { message: String(error?.message ?? error) } }),
    );
  });
  port.postMessage({ port: Number(socket.getServerConn().split(':').pop()) });
} catch (error) {
  const e = /** @type {Error} */ (error);
  port.postMessage({ error: { message: e.message, stack: e.stack } });
}
