/**
 * Escalation that reaches a human: records, staff notification (WhatsApp and a signed
 * webhook) with retries, fail-over and SLA reminders, staff commands, and human handoff.
 */
export { createEscalationService, type EscalationService, type EscalationDeps, type EscalationOptions, type TickSummary } from './service.js';
export { signWebhook, verifyWebhookSignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './signature.js';
export { normaliseCode, type EscalationRow, type EscalationStatus } from './store.js';
