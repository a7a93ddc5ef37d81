/**
 * The only module that talks to Twilio's REST API: send a WhatsApp message (free-form or an
 * approved template) and download inbound media. Retries 429/5xx with backoff; returns plain
 * data; throws our own errors (window closed = Twilio error 63016, a separate error id).
 */
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import type * as TwilioResponse from 'twilio/lib/http/response.js';
import { AppError, ErrorIds } from '../../errors/index.js';

const TWILIO_API_ORIGIN = 'https://api.twilio.com';

/** Points the official SDK at another base URL (tests, benchmarks, regional proxies). */
class BaseUrlRequestClient extends twilio.RequestClient {
  constructor(private readonly baseUrl: string) {
    super();
  }
  override request<TData>(opts: RequestClient.RequestOptions<TData>): Promise<TwilioResponse.default<TData>> {
    const uri = opts.uri.startsWith(TWILIO_API_ORIGIN) ? this.baseUrl + opts.uri.slice(TWILIO_API_ORIGIN.length) : opts.uri;
    return super.request<TData>({ ...opts, uri });
  }
}

export type OutboundContent = { body: string } | { contentSid: string; contentVariables?: Record<string, string> };

export interface MessagingClient {
  /** Sends one WhatsApp message and returns Twilio's message SID. */
  send(to: string, content: OutboundContent): Promise<{ sid: string }>;
  downloadMedia(url: string, maxBytes: number): Promise<{ bytes: Buffer; contentType: string }>;
}

export interface TwilioSettings {
  accountSid: string;
  authToken: string;
  whatsappNumber: string;
  apiBaseUrl: string | undefined;
  /** Backoff base in ms (tests use small values). */
  retryBaseMs?: number;
  maxAttempts?: number;
}

export class TwilioSendError extends AppError {
  readonly twilioCode: number | undefined;
  constructor(message: string, options: { status?: number; twilioCode?: number; cause?: unknown }) {
    const windowClosed = options.twilioCode === 63016;
    super(windowClosed ? ErrorIds.twilioWindowClosed : ErrorIds.twilioSendFailed, message, {
      cause: options.cause,
      context: { status: options.status, twilioCode: options.twilioCode },
      retryable: !windowClosed && (options.status === undefined || options.status === 429 || options.status >= 500),
      status: 502,
    });
    this.twilioCode = options.twilioCode;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createTwilioClient(settings: TwilioSettings): MessagingClient {
  const client = twilio(settings.accountSid, settings.authToken, {
    httpClient: settings.apiBaseUrl ? new BaseUrlRequestClient(settings.apiBaseUrl.replace(/\/+$/, '')) : undefined,
  });
  const baseMs = settings.retryBaseMs ?? 500;
  const maxAttempts = settings.maxAttempts ?? 4;

  async function send(to: string, content: OutboundContent): Promise<{ sid: string }> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const message = await client.messages.create({
          to,
          from: settings.whatsappNumber,
          ...('body' in content ? { body: content.body } : { contentSid: content.contentSid, contentVariables: content.contentVariables ? JSON.stringify(content.contentVariables) : undefined }),
        });
        return { sid: message.sid };
      } catch (cause) {
        const status = (cause as { status?: number }).status;
        const code = (cause as { code?: number }).code;
        const error = new TwilioSendError(`Twilio refused the message${status ? ` (HTTP ${status}${code ? `, code ${code}` : ''})` : ''}: ${(cause as Error).message}`, { status, twilioCode: code, cause });
        if (!error.retryable || attempt >= maxAttempts) throw error;
        await sleep(baseMs * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5));
      }
    }
  }

  async function downloadMedia(url: string, maxBytes: number): Promise<{ bytes: Buffer; contentType: string }> {
    const reject = (message: string, context: Record<string, unknown> = {}) => new AppError(ErrorIds.mediaRejected, message, { context, status: 422 });
    const authorization = `Basic ${Buffer.from(`${settings.accountSid}:${settings.authToken}`).toString('base64')}`;
    const target = settings.apiBaseUrl && url.startsWith(TWILIO_API_ORIGIN) ? settings.apiBaseUrl.replace(/\/+$/, '') + url.slice(TWILIO_API_ORIGIN.length) : url;
    const response = await fetch(target, { headers: { authorization }, signal: AbortSignal.timeout(30_000) });
    if (!response.ok) throw reject(`media download failed with HTTP ${response.status}`, { status: response.status });
    const declared = Number(response.headers.get('content-length') ?? 0);
    if (declared > maxBytes) throw reject(`media is ${declared} bytes, over the ${maxBytes}-byte limit`, { size: declared });
    const bytes = Buffer.from(await response.arrayBuffer());
    if (bytes.length > maxBytes) throw reject(`media is ${bytes.length} bytes, over the ${maxBytes}-byte limit`, { size: bytes.length });
    return { bytes, contentType: (response.headers.get('content-type') ?? 'application/octet-stream').split(';')[0]!.trim() };
  }

  return { send, downloadMedia };
}
