/**
 * Fake Twilio REST API (Messages + Media) speaking the real wire format. The official `twilio`
 * SDK hard-codes https://api.twilio.com, so point it here with a custom `httpClient` that
 * rewrites the URI — see `fakeTwilioHttpClient` below (the app can do the same thing).
 */
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import type * as TwilioResponseModule from 'twilio/lib/http/response.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startServer, sendJson, send, hex } from './http.js';

/** Fixed test Account SID: 'AC' + 32 hex chars. */
export const DEFAULT_TEST_ACCOUNT_SID = 'ACa1b2c3d4e5f60718293a4b5c6d7e8f90';
export const DEFAULT_TEST_AUTH_TOKEN = 'test-auth-token';
export const TWILIO_API_ORIGIN = 'https://api.twilio.com';

export interface SentMessage {
  sid: string;
  to: string;
  from: string;
  body?: string;
  contentSid?: string;
  contentVariables?: string;
  mediaUrls?: string[];
  statusCallback?: string;
  /** Date.now() at arrival. */
  at: number;
}

export interface FakeTwilioOptions {
  /** Artificial latency added before every response (ms). Default 0. */
  latencyMs?: number;
  accountSid?: string;
  authToken?: string;
}

export interface FakeTwilio {
  /** Base URL, e.g. `http://127.0.0.1:PORT` (replaces https://api.twilio.com). */
  readonly url: string;
  readonly accountSid: string;
  readonly authToken: string;
  /** Accepted (201) messages in arrival order. */
  readonly sent: readonly SentMessage[];
  /** Number of GET requests on media URLs (including unauthorised ones). */
  readonly mediaRequests: number;
  /** Artificial latency (ms), mutable at runtime. */
  latencyMs: number;
  /** The next `count` message-create requests fail with `status` (Twilio error JSON). Default codes: 429→20429, 500→20500. */
  failNext(status: number, count?: number, code?: number): void;
  /** From now on free-form (no ContentSid) sends to `to` fail with 400 / 63016; template sends still succeed. */
  closeWindow(to: string): void;
  /** Re-open a window closed with closeWindow. */
  openWindow(to: string): void;
  /** Host `bytes`; returns an absolute Twilio-shaped media URL on this fake (GET needs Basic auth). */
  addMedia(bytes: Buffer, contentType: string): string;
  /** Resolves with `sent` once at least `n` messages were accepted; rejects after `timeoutMs`. */
  waitForSent(n: number, timeoutMs?: number): Promise<SentMessage[]>;
  /** Clears sent messages, counters, pending failures and closed windows (hosted media is kept). */
  reset(): void;
  close(): Promise<void>;
}


/**
 * A `twilio.RequestClient` that sends every request to `baseUrl` instead of https://api.twilio.com.
 * Usage: `twilio(sid, token, { httpClient: fakeTwilioHttpClient(fake.url) })`.
 */
export class RewritingTwilioRequestClient extends twilio.RequestClient {
  constructor(private readonly baseUrl: string) {
    super();
  }
  override request<TData>(opts: RequestClient.RequestOptions<TData>): Promise<TwilioResponseModule.default<TData>> {
    const uri = opts.uri.startsWith(TWILIO_API_ORIGIN) ? this.baseUrl + opts.uri.slice(TWILIO_API_ORIGIN.length) : opts.uri;
    return super.request<TData>({ ...opts, uri });
  }
}

export function fakeTwilioHttpClient(baseUrl: string): RewritingTwilioRequestClient {
  return new RewritingTwilioRequestClient(baseUrl.replace(/\/+$/, ''));
}

// ---------------------------------------------------------------------------------------------

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Twilio's RFC 2822 timestamps: `Thu, 30 Jul 2015 20:12:31 +0000`. */
export function rfc2822(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]}, ${p(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

const ERROR_MESSAGES: Record<number, string> = {
  20003: 'Authenticate',
  20404: 'The requested resource was not found',
  20429: 'Too Many Requests',
  20500: 'An internal server error has occurred',
  21604: "A 'To' phone number is required.",
  21603: "A 'From' phone number is required.",
  21619: 'A text message body or media urls must be specified.',
  63016:
    'Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, please use a Message Template.',
};

function twilioError(res: ServerResponse, status: number, code: number, message?: string): void {
  sendJson(
    res,
    status,
    {
      code,
      message: message ?? ERROR_MESSAGES[code] ?? `Error ${code}`,
      more_info: `https://www.twilio.com/docs/errors/${code}`,
      status,
    },
    { 'twilio-request-id': `RQ${hex(32)}` },
  );
}

function defaultCode(status: number): number {
  if (status === 429) return 20429;
  if (status === 401) return 20003;
  if (status === 404) return 20404;
  if (status >= 500) return 20500;
  return Number(`20${status}`);
}

function segments(body: string): number {
  if (body.length === 0) return 1;
  // eslint-disable-next-line no-control-regex
  const gsm = /^[\x0A\x0D\x20-\x7E£¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¡ÄÖÑÜ§¿äöñüà]*$/u.test(body);
  const len = [...body].length;
  if (gsm) return len <= 160 ? 1 : Math.ceil(len / 153);
  return len <= 70 ? 1 : Math.ceil(len / 67);
}

export async function startFakeTwilio(opts: FakeTwilioOptions = {}): Promise<FakeTwilio> {
  const accountSid = opts.accountSid ?? DEFAULT_TEST_ACCOUNT_SID;
  const authToken = opts.authToken ?? DEFAULT_TEST_AUTH_TOKEN;
  let latencyMs = opts.latencyMs ?? 0;
  const sent: SentMessage[] = [];
  const resources = new Map<string, Record<string, unknown>>();
  const failures: Array<{ status: number; code: number }> = [];
  const closedWindows = new Set<string>();
  const media = new Map<string, { bytes: Buffer; contentType: string }>();
  let mediaRequests = 0;
  const waiters = new Set<() => void>();

  function authorised(req: IncomingMessage): boolean {
    const h = req.headers.authorization ?? '';
    if (!h.startsWith('Basic ')) return false;
    const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    return i >= 0 && decoded.slice(0, i) === accountSid && decoded.slice(i + 1) === authToken;
  }

  function createMessage(res: ServerResponse, raw: Buffer): void {
    const form = new URLSearchParams(raw.toString('utf8'));
    const to = form.get('To');
    const from = form.get('From') ?? form.get('MessagingServiceSid');
    const body = form.get('Body');
    const contentSid = form.get('ContentSid');
    const contentVariables = form.get('ContentVariables');
    const mediaUrls = form.getAll('MediaUrl');
    const statusCallback = form.get('StatusCallback');
    if (!to) return twilioError(res, 400, 21604);
    if (!from) return twilioError(res, 400, 21603);
    if (body === null && contentSid === null && mediaUrls.length === 0) return twilioError(res, 400, 21619);
    if (contentSid === null && closedWindows.has(to)) return twilioError(res, 400, 63016);

    const sid = `SM${hex(32)}`;
    const now = rfc2822(new Date());
    const uri = `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`;
    const resource = {
      account_sid: accountSid,
      api_version: '2010-04-01',
      body: body ?? '',
      date_created: now,
      date_sent: null,
      date_updated: now,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: form.get('From'),
      messaging_service_sid: form.get('MessagingServiceSid'),
      num_media: String(mediaUrls.length),
      num_segments: String(segments(body ?? '')),
      price: null,
      price_unit: 'USD',
      sid,
      status: 'queued',
      subresource_uris: { media: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}/Media.json` },
      to,
      uri,
    };
    resources.set(sid, resource);
    const record: SentMessage = { sid, to, from, at: Date.now() };
    if (body !== null) record.body = body;
    if (contentSid !== null) record.contentSid = contentSid;
    if (contentVariables !== null) record.contentVariables = contentVariables;
    if (mediaUrls.length > 0) record.mediaUrls = mediaUrls;
    if (statusCallback !== null) record.statusCallback = statusCallback;
    sent.push(record);
    for (const w of [...waiters]) w();
    sendJson(res, 201, resource, { 'twilio-request-id': `RQ${hex(32)}` });
  }

  const running = await startServer(async (req, res, raw) => {
    await running.sleep(latencyMs);
    const path = (req.url ?? '/').split('?')[0] ?? '/';

    const mediaEntry = req.method === 'GET' || req.method === 'HEAD' ? media.get(path) : undefined;
    if (mediaEntry) {
      mediaRequests++;
      if (!authorised(req)) return twilioError(res, 401, 20003);
      return send(res, 200, req.method === 'HEAD' ? Buffer.alloc(0) : mediaEntry.bytes, mediaEntry.contentType);
    }

    const m = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages(?:\/(SM[0-9a-f]{32}))?\.json$/.exec(path);
    if (!m) return twilioError(res, 404, 20404, `The requested resource ${path} was not found`);
    if (!authorised(req)) return twilioError(res, 401, 20003);
    if (m[1] !== accountSid) return twilioError(res, 404, 20404, `The requested resource ${path} was not found`);

    if (req.method === 'GET' && m[2]) {
      const found = resources.get(m[2]);
      return found ? sendJson(res, 200, found) : twilioError(res, 404, 20404, `The requested resource ${path} was not found`);
    }
    if (req.method !== 'POST' || m[2]) return twilioError(res, 405, 20004, 'Method not allowed');

    const failure = failures.shift();
    if (failure) return twilioError(res, failure.status, failure.code);
    return createMessage(res, raw);
  });

  const fake: FakeTwilio = {
    url: running.origin,
    accountSid,
    authToken,
    sent,
    get mediaRequests() {
      return mediaRequests;
    },
    get latencyMs() {
      return latencyMs;
    },
    set latencyMs(ms: number) {
      latencyMs = ms;
    },
    failNext(status: number, count = 1, code?: number) {
      for (let i = 0; i < count; i++) failures.push({ status, code: code ?? defaultCode(status) });
    },
    closeWindow(to: string) {
      closedWindows.add(to);
    },
    openWindow(to: string) {
      closedWindows.delete(to);
    },
    addMedia(bytes: Buffer, contentType: string): string {
      const path = `/2010-04-01/Accounts/${accountSid}/Messages/MM${hex(32)}/Media/ME${hex(32)}`;
      media.set(path, { bytes, contentType });
      return running.origin + path;
    },
    waitForSent(n: number, timeoutMs = 5000): Promise<SentMessage[]> {
      if (sent.length >= n) return Promise.resolve([...sent]);
      return new Promise<SentMessage[]>((resolve, reject) => {
        const check = (): void => {
          if (sent.length < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve([...sent]);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const listing = sent.length === 0 ? '(nothing)' : sent.map((s, i) => `  #${i + 1} to=${s.to} ${s.contentSid ? `contentSid=${s.contentSid}` : `body=${JSON.stringify(s.body ?? '')}`}`).join('\n');
          reject(new Error(`fake Twilio: expected at least ${n} sent message(s) within ${timeoutMs} ms, got ${sent.length}:\n${listing}`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    reset() {
      sent.length = 0;
      resources.clear();
      failures.length = 0;
      closedWindows.clear();
      mediaRequests = 0;
    },
    close: () => running.close(),
  };
  return fake;
}
