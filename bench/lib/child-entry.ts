/** The child-process side of `startTask`: runs one task, answers RPCs, reports its result. */
import { createPeer, type Message, type Peer } from './ipc.js';
import { tasks, type TaskName } from './tasks.js';

const name = process.argv[2] as TaskName;
const listeners: Array<(m: unknown) => void> = [];
const peer = createPeer({
  send: (message: Message) => process.send?.(message),
  onMessage: (fn) => listeners.push(fn),
});

process.on('message', (message: unknown) => {
  const start = message as { task?: string; input?: unknown };
  if (start.task !== 'start') {
    listeners.forEach((fn) => fn(message));
    return;
  }
  const task = tasks[name] as ((input: unknown, peer: Peer) => Promise<unknown>) | undefined;
  if (!task) {
    process.send?.({ task: 'failed', error: `unknown bench task ${name}` });
    process.exit(1);
  }
  Promise.resolve()
    .then(() => task!(start.input, peer))
    .then(
      (value) => process.send?.({ task: 'done', value }, () => process.exit(0)),
      (error: unknown) => process.send?.({ task: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () => process.exit(1)),
    );
});
// The bench went away: do not linger.
process.on('disconnect', () => process.exit(0));
