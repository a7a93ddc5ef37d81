import { createHash } from 'node:crypto';
import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Paths that may carry patient data. Bodies and phone numbers are never logged at info:
 * code logs `senderId` (a hash) instead, and these paths are redacted as a safety net.
 */
const redactPaths = [
  'body',
  'Body',
  'text',
  'question',
  'from',
  'From',
  'to',
  'To',
  'phone',
  'req.body',
  'req.headers.authorization',
  'req.headers["x-twilio-signature"]',
  '*.body',
  '*.Body',
  '*.text',
  '*.question',
  '*.from',
  '*.From',
  '*.to',
  '*.To',
  '*.phone',
];

export function createLogger(options: { level: string; name?: string }): Logger {
  return pino({
    name: options.name ?? 'groundline',
    level: options.level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A stable, non-reversible id for a sender (phone number), for logs and rate-limit keys. */
export function hashSender(address: string): string {
  return createHash('sha256').update(`groundline:${address}`).digest('hex').slice(0, 16);
}

export const silentLogger: Logger = pino({ level: 'silent' });
