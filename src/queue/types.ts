/** A job asks a worker to drain one sender's inbox; its id is the MessageSid that triggered it. */
export interface InboundJob {
  messageSid: string;
  senderHash: string;
}

export interface InboundQueue {
  readonly kind: 'in-process' | 'bullmq';
  enqueue(job: InboundJob): Promise<void>;
  /** Reachable (for /readyz). */
  ping(): Promise<boolean>;
  /** Stops taking jobs and waits for the ones in flight. */
  close(): Promise<void>;
}

export type SenderProcessor = (senderHash: string) => Promise<void>;
