/**
 * Runs before every test file: locks the network to loopback, so a test can never reach a
 * real vendor API (a misconfigured base URL fails loudly instead of calling the internet).
 */
import net from 'node:net';

const loopback = /^(127\.\d+\.\d+\.\d+|::1|localhost|::ffff:127\.\d+\.\d+\.\d+)$/;
const originalConnect = net.Socket.prototype.connect;

function targetOf(args: unknown[]): { host?: string; path?: string } {
  const [first] = args;
  if (Array.isArray(first)) return targetOf(first);
  if (typeof first === 'object' && first !== null) return first as { host?: string; path?: string };
  if (typeof first === 'string' && Number.isNaN(Number(first))) return { path: first };
  return { host: typeof args[1] === 'string' ? args[1] : 'localhost' };
}

net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
  const target = targetOf(args);
  if (!target.path && !loopback.test(target.host ?? 'localhost')) {
    throw new Error(`test network is locked to loopback: refused a connection to ${target.host}`);
  }
  return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
} as typeof net.Socket.prototype.connect;

// Config is read from the test's own objects, never from a developer's .env or shell.
for (const key of Object.keys(process.env)) {
  if (/^(OPENAI|ANTHROPIC|TWILIO|DATABASE_URL|REDIS_URL|STAFF_)/.test(key)) delete process.env[key];
}
