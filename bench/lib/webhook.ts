/** Signed Twilio webhook deliveries, exactly as Twilio signs them (X-Twilio-Signature). */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import twilio from 'twilio';
import { BOT_NUMBER } from './upstreams.js';

export const WEBHOOK_PATH = '/webhooks/twilio';
export const BARE_PATH = '/bench/bare';

export function newMessageSid(): string {
  return `SM${randomBytes(16).toString('hex')}`;
}

/** A WhatsApp address unique to (run, index): +1 999 RRRR IIIIII. */
export function senderAddress(run: number, index: number): string {
  return `whatsapp:+1999${String(run % 10_000).padStart(4, '0')}${String(index).padStart(6, '0')}`;
}

export interface SignedDelivery {
  messageSid: string;
  body: string;
  headers: Record<string, string>;
}

export function signedDelivery(url: string, authToken: string, from: string, text: string): SignedDelivery {
  const params: Record<string, string> = {
    MessageSid: newMessageSid(),
    AccountSid: 'ACa1b2c3d4e5f60718293a4b5c6d7e8f90',
    From: from,
    To: BOT_NUMBER,
    Body: text,
    NumMedia: '0',
    ProfileName: 'Bench',
  };
  return {
    messageSid: params.MessageSid!,
    body: new URLSearchParams(params).toString(),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': twilio.getExpectedTwilioSignature(authToken, url, params),
    },
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** POSTs a delivery; resolves with the status code once the response has been read. */
export function post(url: string, delivery: Pick<SignedDelivery, 'body' | 'headers'>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { ...delivery.headers, 'content-length': String(Buffer.byteLength(delivery.body)) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(delivery.body);
  });
}

export function closeAgent(): void {
  agent.destroy();
}
