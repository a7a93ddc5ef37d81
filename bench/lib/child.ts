/**
 * Runs a bench task either in a child process (its RSS and CPU are its own: the server under
 * load, an ingest) or in this process (the smoke test). Either way the caller gets a Peer to
 * talk to it and a promise of its result.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createPeer, localPair, type Message, type Peer } from './ipc.js';
import type { TaskName } from './tasks.js';

export interface TaskHandle<O> {
  peer: Peer;
  result: Promise<O>;
  isolated: boolean;
  pid: number;
  /** Ends the child at once (SIGKILL); in-process tasks cannot be killed. */
  kill(): void;
}

type ChildEvent = { task: 'done'; value: unknown } | { task: 'failed'; error: string };

export async function startTask<O>(
  name: TaskName,
  input: unknown,
  options: { isolate: boolean; handlers?: Record<string, (...args: never[]) => unknown> },
): Promise<TaskHandle<O>> {
  if (!options.isolate) {
    const [mine, theirs] = localPair();
    for (const [method, fn] of Object.entries(options.handlers ?? {})) mine.handle(method, fn);
    const { tasks } = await import('./tasks.js');
    const task = tasks[name] as (input: unknown, peer: typeof theirs) => Promise<unknown>;
    const result = Promise.resolve().then(() => task(input, theirs)) as Promise<O>;
    return { peer: mine, result, isolated: false, pid: process.pid, kill: () => undefined };
  }

  const entry = fileURLToPath(new URL('./child-entry.ts', import.meta.url));
  const child = fork(entry, [name], {
    execArgv: ['--import', import.meta.resolve('tsx')],
    // The subject's logs (pino JSON at info level) are written, as in production, and dropped.
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  const listeners: Array<(m: unknown) => void> = [];
  const peer = createPeer({
    send: (message: Message) => {
      if (child.connected) child.send(message);
    },
    onMessage: (fn) => listeners.push(fn),
  });
  for (const [method, fn] of Object.entries(options.handlers ?? {})) peer.handle(method, fn);
  const result = new Promise<O>((resolve, reject) => {
    let settled = false;
    child.on('message', (message: unknown) => {
      const event = message as Partial<ChildEvent>;
      if (event.task === 'done') {
        settled = true;
        resolve(event.value as O);
      } else if (event.task === 'failed') {
        settled = true;
        reject(new Error(`bench task ${name} failed in its child process:\n${event.error}`));
      } else listeners.forEach((fn) => fn(message));
    });
    child.on('exit', (code, signal) => {
      peer.fail(`bench task ${name} exited (${signal ?? code})`);
      if (!settled) reject(new Error(`bench task ${name} exited before finishing (${signal ?? `code ${code}`})`));
    });
  });
  result.catch(() => undefined);
  child.send({ task: 'start', input });
  return {
    peer,
    result,
    isolated: true,
    pid: child.pid ?? -1,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
