export type { InboundJob, InboundQueue, SenderProcessor } from './types.js';
export { createInProcessQueue } from './in-process.js';
export { createBullQueue, startBullWorker, QUEUE_NAME } from './bullmq.js';
