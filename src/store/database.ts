/**
 * One small interface over the two engines we run the same SQL on: PostgreSQL through `pg`
 * (production, or the embedded database shared over a local socket) and PGlite in-process.
 */
export interface Queryable {
  query<T extends object = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface Database extends Queryable {
  /** Where the data lives, for logs and `/readyz` (never a password). */
  readonly description: string;
  readonly engine: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction: everything it does commits together or not at all. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs a script of several statements (migrations). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}
