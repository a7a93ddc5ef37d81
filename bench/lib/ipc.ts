/**
 * A tiny request/response channel between the bench and a child process (or, in-process,
 * between two halves of the same process), so a scenario can ask its subject for figures
 * (peak RSS, pending messages) and the subject can ask the bench (fake upstream counters).
 */
type Handler = (...args: never[]) => unknown;

export type Message =
  | { rpc: 'call'; id: number; method: string; args: unknown[] }
  | { rpc: 'result'; id: number; ok: true; value: unknown }
  | { rpc: 'result'; id: number; ok: false; error: string };

export interface Peer {
  call<T = unknown>(method: string, ...args: unknown[]): Promise<T>;
  handle(method: string, fn: Handler): void;
  /** Rejects every call still waiting (the other side went away). */
  fail(reason: string): void;
}

export interface Endpoint {
  send(message: Message): void;
  onMessage(fn: (message: unknown) => void): void;
}

function isMessage(value: unknown): value is Message {
  return typeof value === 'object' && value !== null && 'rpc' in value;
}

export function createPeer(endpoint: Endpoint): Peer {
  let nextId = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const handlers = new Map<string, Handler>();
  const awaited = new Map<string, Array<(handler: Handler) => void>>();
  const handlerFor = (method: string): Promise<Handler> => {
    const handler = handlers.get(method);
    if (handler) return Promise.resolve(handler);
    return new Promise((resolve) => awaited.set(method, [...(awaited.get(method) ?? []), resolve]));
  };
  endpoint.onMessage((message) => {
    if (!isMessage(message)) return;
    if (message.rpc === 'result') {
      const w = waiting.get(message.id);
      waiting.delete(message.id);
      if (!w) return;
      if (message.ok) w.resolve(message.value);
      else w.reject(new Error(message.error));
      return;
    }
    // A call may arrive before its handler is registered (the subject is still starting): it waits.
    handlerFor(message.method)
      .then((handler) => (handler as (...a: unknown[]) => unknown)(...message.args))
      .then(
        (value) => endpoint.send({ rpc: 'result', id: message.id, ok: true, value }),
        (error: unknown) => endpoint.send({ rpc: 'result', id: message.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      );
  });
  return {
    call<T>(method: string, ...args: unknown[]) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
        endpoint.send({ rpc: 'call', id, method, args });
      });
    },
    handle(method, fn) {
      handlers.set(method, fn);
      for (const resolve of awaited.get(method) ?? []) resolve(fn);
      awaited.delete(method);
    },
    fail(reason) {
      for (const w of waiting.values()) w.reject(new Error(reason));
      waiting.clear();
    },
  };
}

/** Two connected peers in one process (the smoke test and `--in-process`). */
export function localPair(): [Peer, Peer] {
  const listeners: [Array<(m: unknown) => void>, Array<(m: unknown) => void>] = [[], []];
  const endpoint = (side: 0 | 1): Endpoint => ({
    send: (message) => queueMicrotask(() => listeners[side === 0 ? 1 : 0].forEach((fn) => fn(structuredClone(message)))),
    onMessage: (fn) => listeners[side].push(fn),
  });
  return [createPeer(endpoint(0)), createPeer(endpoint(1))];
}
