/** Prometheus metrics (prom-client), one registry per app instance so tests stay isolated. */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  messagesReceived: Counter<'outcome'>;
  errors: Counter<'where'>;
  ackSeconds: Histogram;
  observeTurn(reply: { kind: string; result?: { escalation?: { category: string }; timings: { retrieveMs: number; generateMs: number } } }, endToEndSeconds: number, processingSeconds: number): void;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  const messagesReceived = new Counter({ name: 'groundline_messages_received_total', help: 'Inbound webhook messages by outcome', labelNames: ['outcome'] as const, registers: [registry] });
  const answers = new Counter({ name: 'groundline_replies_total', help: 'Replies by kind (answer, escalation, fallback, command, notice)', labelNames: ['kind'] as const, registers: [registry] });
  const escalations = new Counter({ name: 'groundline_escalations_total', help: 'Escalations by category', labelNames: ['category'] as const, registers: [registry] });
  const errors = new Counter({ name: 'groundline_errors_total', help: 'Errors by place', labelNames: ['where'] as const, registers: [registry] });
  const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32];
  const ackSeconds = new Histogram({ name: 'groundline_webhook_ack_seconds', help: 'Webhook request to acknowledgement', buckets, registers: [registry] });
  const retrievalSeconds = new Histogram({ name: 'groundline_retrieval_seconds', help: 'Retrieval time per answered question', buckets, registers: [registry] });
  const generationSeconds = new Histogram({ name: 'groundline_generation_seconds', help: 'Answer generation time per question', buckets, registers: [registry] });
  const endToEndSeconds = new Histogram({ name: 'groundline_end_to_end_seconds', help: 'Webhook receipt to reply sent', buckets, registers: [registry] });
  const processingSeconds = new Histogram({ name: 'groundline_turn_processing_seconds', help: 'Worker time per turn', buckets, registers: [registry] });
  return {
    registry,
    messagesReceived,
    errors,
    ackSeconds,
    observeTurn(reply, e2e, processing) {
      answers.inc({ kind: reply.kind });
      const category = reply.result?.escalation?.category ?? (reply.kind === 'fallback' ? 'failure' : undefined);
      if (category) escalations.inc({ category });
      if (reply.result) {
        retrievalSeconds.observe(reply.result.timings.retrieveMs / 1000);
        generationSeconds.observe(reply.result.timings.generateMs / 1000);
      }
      endToEndSeconds.observe(e2e);
      processingSeconds.observe(processing);
    },
  };
}
