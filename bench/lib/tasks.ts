/** Tasks that can run in a child process (see child.ts). */
import type { Peer } from './ipc.js';
import { serverTask } from './server.js';
import { ingestTask } from '../scenarios/ingest.js';

export const tasks = {
  server: serverTask,
  ingest: ingestTask,
} satisfies Record<string, (input: never, peer: Peer) => Promise<unknown>>;

export type TaskName = keyof typeof tasks;
