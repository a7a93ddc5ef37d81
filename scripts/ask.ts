/** npm run ask -- [--json] [--kb NAME] "question" */
import { parseArgs } from 'node:util';
import { formatAnswer } from '../src/cli/answer-format.js';
import { runCli } from '../src/cli/run.js';
import { createAnswerer, openCore } from '../src/composition.js';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/logging/index.js';
import { answerQuestion, fallbackReply, detectLanguage } from '../src/rag/index.js';
import { isAppError } from '../src/errors/index.js';

runCli(async () => {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, kb: { type: 'string' } },
  });
  const question = positionals.join(' ').trim();
  if (!question) {
    process.stderr.write('usage: npm run ask -- [--json] [--kb NAME] "your question"\n');
    return 2;
  }
  const config = loadConfig();
  const core = await openCore(config, { role: 'cli', command: 'npm run ask', logger: silentLogger, ensureKnowledge: true });
  try {
    const result = await answerQuestion(
      { db: core.db, embedder: core.embedder, answerer: createAnswerer(config), organisation: config.organisation },
      { question, kb: values.kb ?? config.knowledge.defaultBase, topK: config.retrieval.topK },
    );
    process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : formatAnswer(result));
    return 0;
  } catch (error) {
    // What a WhatsApp user would get: the safe fallback, and the reason for the operator.
    if (!isAppError(error)) throw error;
    process.stdout.write(`${fallbackReply(detectLanguage(question), config.organisation)}\n`);
    process.stderr.write(`error ${error.id}: ${error.message}\n`);
    return 1;
  } finally {
    await core.db.close();
  }
});
