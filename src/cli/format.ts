import type { IngestSummary } from '../knowledge/index.js';

export function formatIngestSummary(s: IngestSummary): string {
  const lines = [
    s.dryRun
      ? 'Dry run: nothing was written.'
      : !s.changed
        ? `Knowledge base "${s.kb}" is unchanged (version ${s.version}).`
        : s.activated
          ? `Knowledge base "${s.kb}" is now at version ${s.version} (was ${s.previousVersion ?? 'empty'}).`
          : `Knowledge base "${s.kb}": version ${s.version} built, not activated (still serving ${s.previousVersion ?? 'nothing'}).`,
    `  folder:    ${s.dir}`,
    `  mode:      ${s.mode}${s.embeddingModel ? ` (${s.embeddingModel})` : ''}`,
    `  files:     ${s.files} (${s.documents.added.length} added, ${s.documents.updated.length} updated, ${s.documents.removed.length} removed, ${s.documents.unchanged} unchanged)`,
    `  chunks:    ${s.chunks} (${s.embedded} ${s.dryRun ? 'to embed' : 'embedded'}, ${s.reused} reused)`,
    `  time:      ${s.ms} ms`,
  ];
  for (const [label, files] of [['added', s.documents.added], ['updated', s.documents.updated], ['removed', s.documents.removed]] as const) {
    for (const file of files) lines.push(`  ${label.padEnd(8)} ${file}`);
  }
  return `${lines.join('\n')}\n`;
}
