/** Starts the assistant (server.ts) for scenarios 1–2 and talks to it. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTask, type TaskHandle } from './child.js';
import type { ServerReport } from './server.js';

export const SAMPLE_KNOWLEDGE_DIR = fileURLToPath(new URL('../../knowledge', import.meta.url));

export interface ServerHost {
  origin: string;
  port: number;
  isolated: boolean;
  phase(name: string): Promise<void>;
  pending(): Promise<number>;
  report(): Promise<ServerReport>;
  /** graceful: finish in-flight work and close; otherwise report and kill (a backlog is abandoned). */
  stop(graceful: boolean): Promise<ServerReport>;
}

export async function startServerHost(options: { isolate: boolean; env: Record<string, string>; queuePrefix?: string }): Promise<ServerHost> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'groundline-bench-server-'));
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    PORT: '0',
    DATA_DIR: dataDir,
    KNOWLEDGE_DIR: SAMPLE_KNOWLEDGE_DIR,
    ...options.env,
  };
  const handle: TaskHandle<ServerReport> = await startTask<ServerReport>('server', { env, logLevel: options.isolate ? 'info' : 'silent', queuePrefix: options.queuePrefix }, { isolate: options.isolate });
  let port: number;
  try {
    port = await Promise.race([
      handle.peer.call<number>('port'),
      handle.result.then(() => {
        throw new Error('the server task ended before it listened');
      }),
    ]);
  } catch (error) {
    handle.kill();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const cleanup = () => rm(dataDir, { recursive: true, force: true });
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    isolated: handle.isolated,
    phase: (name) => handle.peer.call('phase', name),
    pending: () => handle.peer.call<number>('pending'),
    report: () => handle.peer.call<ServerReport>('report'),
    async stop(graceful) {
      let report: ServerReport;
      if (graceful || !handle.isolated) {
        void handle.peer.call('close').catch(() => undefined);
        report = await handle.result;
      } else {
        report = await handle.peer.call<ServerReport>('report');
        handle.kill();
        await handle.result.catch(() => undefined);
      }
      await cleanup();
      return report;
    },
  };
}
