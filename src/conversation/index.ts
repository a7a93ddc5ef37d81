export { respondToTurn, type ConversationDeps, type TurnInput, type Reply, type ReplyKind, type EscalationSink, type EscalationRequest } from './respond.js';
export { createMemoryHistory, createRedisHistory, type HistoryStore } from './history.js';
export { texts } from './texts.js';
export * as inbox from './inbox.js';
export type { InboundMessage, InboundMedia } from './inbox.js';
