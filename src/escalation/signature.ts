/**
 * The staff webhook's signature. Every POST carries
 *   X-Groundline-Timestamp: <unix seconds>
 *   X-Groundline-Signature: v1=<hex HMAC-SHA256(STAFF_WEBHOOK_SECRET, `${timestamp}.${raw body}`)>
 * A receiver recomputes the HMAC over the exact bytes it received, compares in constant time,
 * and rejects timestamps more than five minutes away from its clock (replays).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Groundline-Signature';
export const TIMESTAMP_HEADER = 'X-Groundline-Timestamp';

export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** For receivers written in TypeScript: true when the signature and the timestamp are good. */
export function verifyWebhookSignature(
  secret: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  body: string,
  options: { toleranceSeconds?: number; nowSeconds?: number } = {},
): boolean {
  const { timestamp, signature } = headers;
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
