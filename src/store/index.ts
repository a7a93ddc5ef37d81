import type { Config } from '../config/index.js';
import type { Database } from './database.js';
import { openEmbedded, type EmbeddedRole } from './embedded.js';
import { migrate } from './migrations.js';
import { openPostgres } from './postgres.js';

export type { Database, Queryable } from './database.js';
export { migrate } from './migrations.js';
export { vectorBinary, vectorText } from './vector.js';

/** Filtered nearest-neighbour queries keep scanning the HNSW graph until enough rows match. */
const sessionSql = "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', false)";
/**
 * The embedded database is read from memory: a random page costs about what a sequential one
 * does. With PostgreSQL's default (4, for spinning disks) the planner scans every chunk for a
 * word found in a few hundred, instead of using the full-text index.
 */
const embeddedSessionSql = "SELECT set_config('random_page_cost', '1.1', false)";

/**
 * Opens the configured database and brings its schema up to date: PostgreSQL when
 * DATABASE_URL is set, otherwise the embedded PGlite under DATA_DIR.
 */
export async function openDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir'>,
  options: { role: EmbeddedRole; command: string },
): Promise<Database> {
  const db = config.databaseUrl
    ? await openPostgres({ connectionString: config.databaseUrl, description: redactUrl(config.databaseUrl), sessionSql })
    : await openEmbedded({ dataDir: config.dataDir, role: options.role, command: options.command });
  try {
    await migrate(db);
    await db.exec(sessionSql);
    if (!config.databaseUrl) await db.exec(embeddedSessionSql);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+)(:[^@/]*)?@/, '//$1:***@');
}
