/**
 * A tiny fictional clinic FAQ for retrieval and answer tests, written to a temp folder and
 * ingested with the real `ingestKnowledge`. Passages the tests assert on verbatim are exported.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ingestKnowledge, type IngestSummary } from '../../src/knowledge/index.js';
import { silentLogger } from '../../src/logging/index.js';
import type { Database } from '../../src/store/index.js';
import type { Embedder } from '../../src/vendors/openai.js';
import { testConfig } from './config.js';

export const CLEAR_LIQUIDS =
  'You may drink water and other clear liquids until 2 hours before your arrival time. After that, nothing by mouth except medicines with a sip of water.';
export const COFFEE_AND_TEA =
  'Black coffee and plain tea count as clear liquids: you can have them up to 2 hours before arrival. Adding milk turns the drink into food, so the 8-hour rule applies.';
export const SOLID_FOOD = 'Stop eating solid food 8 hours before your arrival time. For a morning arrival, this means nothing to eat after midnight.';
export const WOUND_CARE =
  'Keep the dressing clean and dry for 48 hours. After 48 hours you may shower, then pat the incision dry with a clean towel. Do not soak in a bath or pool until the stitches are removed.';
export const PARKING =
  'Free parking for patients is in the car park on Elm Street, next to the main entrance. Show your appointment letter at the barrier.';
export const CAFE =
  'The lobby café serves coffee, tea and pastries from 7:00 to 15:00. Visitors can wait there with a coffee while you are in surgery.';
export const AYUNO_LIQUIDOS = 'Puede beber agua y otros líquidos claros hasta 2 horas antes de su hora de llegada. Después, no tome nada por la boca.';

export type ClinicFaq = Record<string, string>;

/** The documents of the fictional clinic, by relative path. */
export function clinicFaq(overrides: { fastingClearLiquids?: string } = {}): ClinicFaq {
  return {
    'fasting.md': `---
title: Fasting before surgery
lang: en
---

# Fasting before surgery

An empty stomach keeps you safe during anaesthesia. If your surgeon gives you different instructions, follow theirs.

## Fasting

### Solid food

${SOLID_FOOD}

### Clear liquids

${overrides.fastingClearLiquids ?? CLEAR_LIQUIDS}

### Coffee and tea

${COFFEE_AND_TEA}
`,
    'wound-care.md': `---
title: Caring for your wound
lang: en
---

# Caring for your wound

## Dressing and showering

${WOUND_CARE}

## Signs of infection

Call the nurse line if the wound becomes more red, swollen or painful, or if it leaks pus.
`,
    'visiting/parking.md': `---
title: Parking and getting here
lang: en
---

# Parking and getting here

## Parking

${PARKING}

## Coffee in the lobby

${CAFE}
`,
    'ayuno.md': `---
title: Ayuno antes de la cirugía
lang: es
---

# Ayuno antes de la cirugía

## Líquidos claros

${AYUNO_LIQUIDOS}

## Comida sólida

Deje de comer alimentos sólidos 8 horas antes de su hora de llegada.
`,
  };
}

/** Writes the documents into `dir` (created if needed), replacing what was there. */
export async function writeFaq(dir: string, docs: ClinicFaq = clinicFaq()): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  for (const [rel, text] of Object.entries(docs)) {
    const file = path.join(dir, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text, 'utf8');
  }
  return dir;
}

/** A fresh temp folder; remove it with `removeTempDir`. */
export function makeTempDir(prefix = 'groundline-rag-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

export function removeTempDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/** Ingests `dir` into knowledge base `kb` with the real pipeline and the test chunking settings. */
export function ingestFaq(db: Database, embedder: Embedder | undefined, kb: string, dir: string): Promise<IngestSummary> {
  const { knowledge } = testConfig();
  return ingestKnowledge(
    { db, embedder, logger: silentLogger },
    {
      dir,
      kb,
      chunking: { chunkSize: knowledge.chunkSize, chunkOverlap: knowledge.chunkOverlap },
      maxDocumentBytes: knowledge.maxDocumentBytes,
    },
  );
}

/** Writes the clinic FAQ (optionally changed) to a fresh folder under `root` and ingests it as `kb`. */
export async function seedClinic(
  db: Database,
  embedder: Embedder | undefined,
  kb: string,
  root: string,
  docs: ClinicFaq = clinicFaq(),
): Promise<IngestSummary> {
  const dir = await writeFaq(path.join(root, kb), docs);
  return ingestFaq(db, embedder, kb, dir);
}
