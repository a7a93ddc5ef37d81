/** npm run chat — talk to the assistant in the terminal, as a WhatsApp user would. */
import { runChat } from '../src/cli/chat.js';
import { runCli } from '../src/cli/run.js';
import { createAnswerer, createTranscriber, openCore } from '../src/composition.js';
import { loadConfig } from '../src/config/index.js';
import { createMemoryHistory } from '../src/conversation/index.js';
import { silentLogger } from '../src/logging/index.js';

runCli(async () => {
  const config = loadConfig();
  const core = await openCore(config, { role: 'cli', command: 'npm run chat', logger: silentLogger, ensureKnowledge: true });
  const answerer = createAnswerer(config);
  try {
    await runChat(
      {
        db: core.db,
        embedder: core.embedder,
        answerer,
        organisation: config.organisation,
        history: createMemoryHistory({ turns: config.conversation.historyTurns, ttlSeconds: config.conversation.historyTtlSeconds }),
        transcriber: createTranscriber(config),
        downloadMedia: undefined,
        escalate: async (request) => {
          process.stderr.write(`(escalation recorded: ${request.category} — ${request.reason})\n`);
        },
        logger: silentLogger,
        kb: config.knowledge.defaultBase,
        topK: config.retrieval.topK,
        maxQuestionChars: config.conversation.maxQuestionChars,
        maxMediaBytes: config.conversation.maxMediaBytes,
      },
      {
        input: process.stdin,
        output: process.stdout,
        banner: `Groundline chat — ${config.organisation.name} (${answerer.offline ? 'offline answerer: quotes the documents' : answerer.model}). /help for commands, /quit to leave.`,
      },
    );
  } finally {
    await core.db.close();
  }
});
