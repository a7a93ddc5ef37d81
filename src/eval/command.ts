/**
 * `npm run eval` and `npm run ingest -- --eval`: open the configured parts, optionally ingest
 * a folder into its own knowledge base, run the set. The scripts only parse flags and print.
 */
import path from 'node:path';
import type { Config } from '../config/index.js';
import { ingestKnowledge, type IngestProgress, type IngestSummary } from '../knowledge/index.js';
import { silentLogger } from '../logging/index.js';
import { evalKnowledgeBase, ingestWithEvalGate, type GateResult } from './gate.js';
import { runEval, type EvalReport } from './run.js';
import { checkSetAgainstFolder, loadEvalSet } from './set.js';
import type { Threshold } from './thresholds.js';

/** The composition root pulls in every vendor SDK: loaded only once the command really runs. */
const composition = () => import('../composition.js');

export interface EvalCommandOptions {
  set: string;
  dir?: string;
  kb?: string;
  k: number;
  thresholds: Threshold[];
  onIngestProgress?: (progress: IngestProgress) => void;
  onProgress?: (done: number, total: number) => void;
}

export interface EvalCommandResult extends EvalReport {
  /** With --dir: the folder and how its isolated knowledge base was brought up to date. */
  ingest: (Pick<IngestSummary, 'dir' | 'changed' | 'version' | 'files' | 'chunks' | 'mode'> & { kb: string }) | null;
}

export async function evalCommand(config: Config, options: EvalCommandOptions): Promise<EvalCommandResult> {
  const cases = await loadEvalSet(options.set);
  const { createAnswerer, openCore } = await composition();
  const core = await openCore(config, { role: 'cli', command: 'npm run eval', logger: silentLogger, ensureKnowledge: !options.dir && !options.kb });
  try {
    let kb = options.kb ?? config.knowledge.defaultBase;
    let ingest: EvalCommandResult['ingest'] = null;
    if (options.dir) {
      // Its own knowledge base per folder: the live one is never touched, re-runs are incremental.
      kb = evalKnowledgeBase(options.dir);
      const summary = await ingestKnowledge(
        { db: core.db, embedder: core.embedder, logger: core.logger, onProgress: options.onIngestProgress },
        {
          dir: path.resolve(options.dir),
          kb,
          chunking: { chunkSize: config.knowledge.chunkSize, chunkOverlap: config.knowledge.chunkOverlap },
          maxDocumentBytes: config.knowledge.maxDocumentBytes,
        },
      );
      ingest = { kb, dir: summary.dir, changed: summary.changed, version: summary.version, files: summary.files, chunks: summary.chunks, mode: summary.mode };
    }
    const report = await runEval(
      { db: core.db, embedder: core.embedder, answerer: createAnswerer(config), organisation: config.organisation },
      { cases, kb, k: options.k, topK: config.retrieval.topK, set: options.set, thresholds: options.thresholds, onProgress: options.onProgress },
    );
    // With a folder at hand, a source typo or a fact that is not in its source is worth a word.
    // (A missing source is already reported from the knowledge base.)
    if (options.dir) {
      const problems = await checkSetAgainstFolder(cases, path.resolve(options.dir));
      report.warnings.push(...problems.filter((p) => p.kind === 'fact-not-in-source').map((p) => p.message));
    }
    return { ...report, ingest };
  } finally {
    await core.db.close();
  }
}

export interface GateCommandOptions {
  set: string;
  dir: string;
  kb: string;
  k: number;
  thresholds: Threshold[];
  onIngestProgress?: (progress: IngestProgress) => void;
  onProgress?: (done: number, total: number) => void;
}

export async function gateCommand(config: Config, options: GateCommandOptions): Promise<GateResult> {
  const cases = await loadEvalSet(options.set);
  const { createAnswerer, openCore } = await composition();
  const core = await openCore(config, { role: 'cli', command: 'npm run ingest -- --eval', logger: silentLogger });
  try {
    return await ingestWithEvalGate(
      {
        db: core.db,
        embedder: core.embedder,
        answerer: createAnswerer(config),
        organisation: config.organisation,
        logger: core.logger,
        onProgress: options.onIngestProgress,
        onEvalProgress: options.onProgress,
      },
      {
        ingest: {
          dir: options.dir,
          kb: options.kb,
          chunking: { chunkSize: config.knowledge.chunkSize, chunkOverlap: config.knowledge.chunkOverlap },
          maxDocumentBytes: config.knowledge.maxDocumentBytes,
        },
        cases,
        set: options.set,
        k: options.k,
        topK: config.retrieval.topK,
        thresholds: options.thresholds,
      },
    );
  } finally {
    await core.db.close();
  }
}
