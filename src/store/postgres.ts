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
}): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    host: options.host,
    port: options.port,
    user: options.connectionString ? undefined : 'postgres',
    database: options.connectionString ? undefined : 'postgres',
    max: options.max ?? 10,
    connectionTimeoutMillis: 10_000,
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

  const query = async <T extends object>(runner: pg.Pool | pg.PoolClient, sql: string, params?: unknown[]) => {
    const result = await runner.query(sql, params as unknown[]);
    return result.rows as T[];
  };

  return {
    description: options.description,
    engine: 'postgres',
    query: (sql, params) => query(pool, sql, params),
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
