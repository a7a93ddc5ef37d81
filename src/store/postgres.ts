import { createHash } from 'node:crypto';
import pg from 'pg';
import { AppError, ErrorIds } from '../errors/index.js';
import type { Database, Queryable } from './database.js';

/** PostgreSQL through a `pg` pool: a real server, or the embedded PGlite shared on a socket. */
export async function openPostgres(options: {
  connectionString?: string;
  host?: string;
  port?: number;
  description: string;
  max?: number;
  /** Statements every new connection runs first (session settings). */
  sessionSql?: string;
  /**
   * Keep parameterised statements prepared on each connection (parsed and planned once).
   * For the embedded database: PGlite plans in WASM on one backend, so re-planning the same
   * statement on every call is a real share of a turn. Connections then stay open (no idle
   * timeout): PGlite's single backend keeps a closed connection's statements.
   */
  prepareStatements?: boolean;
}): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    host: options.host,
    port: options.port,
    user: options.connectionString ? undefined : 'postgres',
    database: options.connectionString ? undefined : 'postgres',
    max: options.max ?? 10,
    connectionTimeoutMillis: 10_000,
    ...(options.prepareStatements ? { idleTimeoutMillis: 0 } : {}),
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const sessionSql = options.sessionSql;
  if (sessionSql) pool.on('connect', (client) => void client.query(sessionSql).catch(() => undefined));
  try {
    const client = await pool.connect();
    client.release();
  } catch (cause) {
    await pool.end().catch(() => undefined);
    throw new AppError(ErrorIds.databaseUnavailable, `Cannot connect to ${options.description}: ${(cause as Error).message}`, {
      cause,
      context: { database: options.description },
      retryable: true,
      status: 503,
    });
  }

  const statements = options.prepareStatements ? preparedStatementNames() : undefined;
  const query = async <T extends object>(runner: pg.Pool | pg.PoolClient, sql: string, params?: unknown[]) => {
    const name = params && statements && !(runner instanceof pg.Pool) ? statements.nameFor(runner, sql) : undefined;
    const result = name ? await runner.query({ name, text: sql, values: params }) : await runner.query(sql, params as unknown[]);
    return result.rows as T[];
  };
  /** A pooled client for the call: a prepared statement belongs to one connection. */
  const onClient = async <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    try {
      return await fn(client);
    } finally {
      client.release();
    }
  };

  return {
    description: options.description,
    engine: 'postgres',
    query: (sql, params) => (params && statements ? onClient((client) => query(client, sql, params)) : query(pool, sql, params)),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn({ query: (sql, params) => query(client, sql, params) });
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    async exec(sql) {
      await pool.query(sql);
    },
    async close() {
      await pool.end();
    },
  };
}

/**
 * Names for prepared statements: one per statement text and connection (PGlite serves every
 * connection from one backend, where names must not collide). At most MAX_PREPARED texts are
 * prepared; statements built with a varying shape beyond that run unnamed.
 */
const MAX_PREPARED = 256;

function preparedStatementNames() {
  const texts = new Map<string, string>();
  const clients = new WeakMap<pg.PoolClient, number>();
  let nextClient = 0;
  return {
    nameFor(client: pg.PoolClient, sql: string): string | undefined {
      let text = texts.get(sql);
      if (!text) {
        if (texts.size >= MAX_PREPARED) return undefined;
        text = createHash('sha1').update(sql).digest('hex').slice(0, 20);
        texts.set(sql, text);
      }
      let id = clients.get(client);
      if (id === undefined) clients.set(client, (id = (nextClient += 1)));
      return `gl_${text}_${id}`;
    },
  };
}
