import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import type { Database, Queryable } from './database.js';

export type { PGlite };

/** Boots PGlite with pgvector; `dataDir` undefined means in memory (tests). */
export async function createPGlite(dataDir: string | undefined): Promise<PGlite> {
  return PGlite.create({ dataDir, extensions: { vector } });
}

/** The embedded database used directly by this process. */
export function pgliteDatabase(db: PGlite, description: string, onClose?: () => Promise<void>): Database {
  const run = async <T extends object>(runner: Pick<PGlite, 'query'>, sql: string, params?: unknown[]) =>
    (await runner.query<T>(sql, params)).rows;
  return {
    description,
    engine: 'pglite',
    query: (sql, params) => run(db, sql, params),
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      return db.transaction((tx) => fn({ query: (sql, params) => run(tx, sql, params) }));
    },
    async exec(sql) {
      await db.exec(sql);
    },
    async close() {
      await onClose?.();
      if (!db.closed) await db.close();
    },
  };
}
