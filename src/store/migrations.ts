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
  {
    version: 3,
    name: 'escalations and human handoff',
    sql: `
      -- Every escalation, once per turn (turn_sid is unique: a retried turn never records or
      -- notifies twice), with a short code staff type (E-4821) and what has been done about it.
      CREATE TABLE escalations (
        id bigserial PRIMARY KEY,
        code text NOT NULL UNIQUE,
        turn_sid text NOT NULL UNIQUE,
        sender text NOT NULL,
        sender_hash text NOT NULL,
        category text NOT NULL CHECK (category IN ('urgent', 'sensitive', 'out_of_scope', 'user_request', 'failure')),
        reason text NOT NULL,
        question text NOT NULL DEFAULT '',
        language text NOT NULL DEFAULT 'en',
        last_turns jsonb NOT NULL DEFAULT '[]',
        sources jsonb NOT NULL DEFAULT '[]',
        status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'claimed', 'resolved', 'expired')),
        claimed_by text,
        claimed_at timestamptz,
        closed_by text,
        closed_at timestamptz,
        last_user_message_at timestamptz NOT NULL DEFAULT now(),
        reminder_level int NOT NULL DEFAULT 0,
        next_reminder_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX escalations_sender ON escalations (sender_hash, status);
      CREATE INDEX escalations_reminder_due ON escalations (next_reminder_at) WHERE status = 'open';
      CREATE INDEX escalations_created_at ON escalations (created_at);
      -- One row per message to one staff contact (WhatsApp) or the staff webhook: a durable job
      -- with its attempts, errors and outcome. dedupe_key makes every enqueue idempotent.
      CREATE TABLE escalation_notifications (
        id bigserial PRIMARY KEY,
        escalation_id bigint NOT NULL REFERENCES escalations(id) ON DELETE CASCADE,
        dedupe_key text NOT NULL UNIQUE,
        kind text NOT NULL CHECK (kind IN ('new', 'reminder', 'failover', 'event')),
        channel text NOT NULL CHECK (channel IN ('whatsapp', 'webhook')),
        target text NOT NULL,
        contact_index int,
        body text NOT NULL,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
        attempts int NOT NULL DEFAULT 0,
        max_attempts int NOT NULL,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        locked_until timestamptz,
        last_error text,
        errors jsonb NOT NULL DEFAULT '[]',
        delivered_as text,
        twilio_sid text,
        created_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz
      );
      CREATE INDEX escalation_notifications_due ON escalation_notifications (next_attempt_at) WHERE status IN ('pending', 'sending');
      CREATE INDEX escalation_notifications_escalation ON escalation_notifications (escalation_id);
      -- A user's conversation while a staff member has it: the assistant stays silent and the
      -- user's messages go to that staff member. One row per user at most.
      CREATE TABLE handoffs (
        id bigserial PRIMARY KEY,
        sender_hash text NOT NULL UNIQUE,
        escalation_id bigint NOT NULL REFERENCES escalations(id) ON DELETE CASCADE,
        staff text NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        last_activity_at timestamptz NOT NULL DEFAULT now()
      );
      -- When a user last wrote (WhatsApp's 24-hour window) and what was sent to them.
      CREATE INDEX inbound_sender_received ON inbound_messages (sender_hash, received_at);
      CREATE INDEX outbound_recipient ON outbound_messages (recipient_hash, created_at);
    `,
  },
  {
    version: 4,
    name: 'full-text ranking in memory',
    sql: `
      -- Retrieval ranks full text from an in-memory index per knowledge version, read from
      -- the tsv column (src/rag/lexical-index.ts); no query searches tsv any more, and the GIN
      -- index only cost every ingest its upkeep.
      DROP INDEX IF EXISTS chunks_tsv;
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
