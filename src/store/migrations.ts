import { AppError, ErrorIds } from '../errors/index.js';
import type { Database } from './database.js';

interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Versioned, forward-only migrations. Each runs once, in its own transaction, recorded in
 * schema_migrations; the same SQL runs on PostgreSQL + pgvector and on PGlite.
 */
export const migrations: Migration[] = [
  {
    version: 1,
    name: 'knowledge',
    sql: `
      CREATE TABLE knowledge_bases (
        name text PRIMARY KEY,
        current_version bigint,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE knowledge_versions (
        id bigserial PRIMARY KEY,
        kb text NOT NULL REFERENCES knowledge_bases(name) ON DELETE CASCADE,
        status text NOT NULL CHECK (status IN ('active', 'superseded', 'failed', 'rejected')),
        source_dir text,
        summary jsonb NOT NULL DEFAULT '{}',
        error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        activated_at timestamptz
      );
      -- Rows live from the version that added them until the version that retired them, so
      -- a new version shares unchanged rows with the previous one instead of copying them.
      CREATE TABLE documents (
        id bigserial PRIMARY KEY,
        kb text NOT NULL REFERENCES knowledge_bases(name) ON DELETE CASCADE,
        source text NOT NULL,
        title text NOT NULL,
        lang text NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}',
        content_hash text NOT NULL,
        -- chunking parameters + embedding model: a change re-chunks/re-embeds the document
        fingerprint text NOT NULL,
        chunk_count int NOT NULL,
        added_in bigint NOT NULL,
        retired_in bigint
      );
      CREATE INDEX documents_live ON documents (kb, added_in, retired_in);
      CREATE TABLE chunks (
        id bigserial PRIMARY KEY,
        document_id bigint NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        kb text NOT NULL,
        source text NOT NULL,
        title text NOT NULL,
        heading_path text NOT NULL,
        ordinal int NOT NULL,
        content text NOT NULL,
        content_hash text NOT NULL,
        ts_config regconfig NOT NULL,
        tsv tsvector NOT NULL,
        embedding vector,
        embedding_model text,
        embedding_dims int,
        added_in bigint NOT NULL,
        retired_in bigint
      );
      CREATE INDEX chunks_tsv ON chunks USING gin (tsv);
      CREATE INDEX chunks_live ON chunks (kb, added_in, retired_in);
      CREATE INDEX chunks_embedding_reuse ON chunks (kb, content_hash, embedding_model, embedding_dims);
    `,
  },
  {
    version: 2,
    name: 'inbox and outbox',
    sql: `
      -- Every inbound WhatsApp message, recorded before Twilio gets its 200: the durable inbox.
      CREATE TABLE inbound_messages (
        message_sid text PRIMARY KEY,
        channel text NOT NULL DEFAULT 'whatsapp',
        sender text NOT NULL,
        sender_hash text NOT NULL,
        recipient text NOT NULL,
        body text NOT NULL DEFAULT '',
        profile_name text,
        media jsonb NOT NULL DEFAULT '[]',
        status text NOT NULL DEFAULT 'received'
          CHECK (status IN ('received', 'processing', 'answered', 'escalated', 'command', 'rate_limited', 'failed', 'merged', 'staff')),
        notify_rate_limit boolean NOT NULL DEFAULT false,
        turn_sid text,
        outcome text,
        error text,
        attempts int NOT NULL DEFAULT 0,
        received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        processed_at timestamptz
      );
      CREATE INDEX inbound_pending ON inbound_messages (sender_hash, received_at) WHERE status IN ('received', 'processing');
      CREATE INDEX inbound_received_at ON inbound_messages (received_at);
      -- Every message we send. (turn_sid, part) is unique so a retried job never sends a part twice.
      CREATE TABLE outbound_messages (
        id bigserial PRIMARY KEY,
        turn_sid text NOT NULL,
        part int NOT NULL,
        kind text NOT NULL,
        recipient text NOT NULL,
        recipient_hash text NOT NULL,
        body text,
        content_sid text,
        twilio_sid text,
        status text NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
        error text,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        sent_at timestamptz,
        UNIQUE (turn_sid, part)
      );
      CREATE INDEX outbound_created_at ON outbound_messages (created_at);
      -- The audit of each answered turn: what was retrieved, cited and decided.
      CREATE TABLE answer_log (
        id bigserial PRIMARY KEY,
        turn_sid text NOT NULL UNIQUE,
        sender_hash text NOT NULL,
        kind text NOT NULL,
        category text,
        reason text,
        question text NOT NULL,
        citations jsonb NOT NULL DEFAULT '[]',
        retrieved jsonb NOT NULL DEFAULT '[]',
        knowledge_version bigint,
        model text,
        timings jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
      );
      CREATE INDEX answer_log_created_at ON answer_log (created_at);
    `,
  },
];

export async function migrate(db: Database): Promise<{ applied: number[] }> {
  await db.exec(`
    CREATE EXTENSION IF NOT EXISTS vector;
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version int PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    );
  `);
  const applied: number[] = [];
  for (const migration of migrations) {
    try {
      const ran = await db.transaction(async (tx) => {
        // Two processes starting together must not both apply a migration.
        await tx.query('SELECT pg_advisory_xact_lock(7431001)');
        const done = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [migration.version]);
        if (done.length > 0) return false;
        for (const statement of splitStatements(migration.sql)) await tx.query(statement);
        await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
        return true;
      });
      if (ran) applied.push(migration.version);
    } catch (cause) {
      throw new AppError(ErrorIds.migrationFailed, `Migration ${migration.version} (${migration.name}) failed: ${(cause as Error).message}`, {
        cause,
        context: { version: migration.version },
      });
    }
  }
  return { applied };
}

/** Our migrations hold no semicolons inside literals or bodies, so a plain split is safe. */
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter((s) => s.length > 0);
}
