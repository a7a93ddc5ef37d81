export { answerQuestion, type AnswerDeps, type AnswerInput } from './answer.js';
export { retrieveContext, buildRetrievalQuery, prepareRetrieval } from './retrieve.js';
export { createClaudeAnswerer, citableBlocks } from './claude-answerer.js';
export { createOfflineAnswerer, OFFLINE_MODEL } from './offline-answerer.js';
export { detectRedFlag } from './red-flags.js';
export { detectLanguage } from './language.js';
export { escalationReply, fallbackReply, type Organisation } from './replies.js';
export type { AnswerResult, Answerer, Citation, EscalationCategory, Language, Retrieval, RetrievedChunk, Turn } from './types.js';
