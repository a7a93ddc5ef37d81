/**
 * Tiny shared plumbing for the fake third-party servers (node:http only).
 * Not part of any fake's public API; import the individual fakes instead.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => Promise<void>;

export interface RunningServer {
  readonly server: Server;
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  readonly origin: string;
  /** Sleep that is cancelled (never resolves) once the server is closed; keeps close() from hanging on timers. */
  sleep(ms: number): Promise<void>;
  close(): Promise<void>;
}

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function send(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  contentType: string,
  headers: Record<string, string> = {},
): void {
  if (res.writableEnded || res.destroyed) return; // client gave up (e.g. timeout) — nothing to do
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': String(typeof body === 'string' ? Buffer.byteLength(body) : body.length),
    ...headers,
  });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  send(res, status, JSON.stringify(body), 'application/json', headers);
}

/** Random string over [0-9A-Za-z], like the tails of Anthropic ids. */
export function base62(len: number): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  const bytes = randomBytes(len);
  let out = '';
  for (const b of bytes) out += alphabet[b % 62];
  return out;
}

export function hex(len: number): string {
  return randomBytes(Math.ceil(len / 2)).toString('hex').slice(0, len);
}

/**
 * Start a server on 127.0.0.1 with an ephemeral port. The body is read fully before the handler
 * runs. Any exception becomes a plain 500 so a bug in a fake never hangs a test.
 */
export async function startServer(handler: Handler): Promise<RunningServer> {
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  const server = createServer((req, res) => {
    readBody(req)
      .then((body) => handler(req, res, body))
      .catch((err: unknown) => {
        sendJson(res, 500, { error: { message: `fake server bug: ${String(err)}` } });
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    origin: `http://127.0.0.1:${port}`,
    sleep(ms: number): Promise<void> {
      if (ms <= 0 || closed) return closed ? new Promise<void>(() => {}) : Promise.resolve();
      return new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          timers.delete(t);
          resolve();
        }, ms);
        timers.add(t);
      });
    },
    close(): Promise<void> {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        // SDK clients keep sockets alive; without this close() waits for their idle timeout.
        server.closeAllConnections();
      });
    },
  };
}
