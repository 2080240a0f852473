// Two receivers' handlers for testing the runner: one correct, one with flaws that hand-written
// receivers often have. Both verify with the `standardwebhooks` package from npm.

import { Webhook, WebhookVerificationError } from 'standardwebhooks';

/**
 * Correct: verifies the exact body bytes (signature and timestamp), answers 2xx to every verified
 * event (unknown types, fields and enum values included), and treats a repeated webhook-id as
 * already done.
 */
export function receiver(secret) {
  const webhook = new Webhook(secret);
  const seen = new Set();
  const handle = async ({ headers, body }) => {
    let event;
    try {
      event = webhook.verify(body, headers);
    } catch (error) {
      if (error instanceof WebhookVerificationError) return 400;
      throw error;
    }
    if (seen.has(headers['webhook-id'])) return 200;
    seen.add(headers['webhook-id']);
    handle.events.push(event);
    return new Response(null, { status: 204 });
  };
  handle.events = [];
  return handle;
}

const HANDLERS = {
  'interview.completed': () => {},
  'interview.failed': () => {},
  'application.status_changed': () => {},
  'webhook.test': () => {},
};
// The application statuses the published schema lists today (the enum is open: more may come).
const STATUSES = new Set(['pending', 'calling', 'in_progress', 'completed', 'no_answer', 'voicemail', 'failed', 'cancelled']);

/**
 * Broken: verifies correctly, but answers 409 to a repeated webhook-id, throws on an event type it
 * has no handler for, and rejects an application status it does not know with 422.
 */
export function brittleReceiver(secret) {
  const webhook = new Webhook(secret);
  const seen = new Set();
  return ({ headers, body }) => {
    let event;
    try {
      event = webhook.verify(body, headers);
    } catch {
      return { statusCode: 401 };
    }
    if (seen.has(headers['webhook-id'])) return 409;
    seen.add(headers['webhook-id']);
    const handler = HANDLERS[event.type];
    if (!handler) throw new Error(`no handler for ${event.type}`);
    const status = event.data?.application?.status;
    if (status !== undefined && !STATUSES.has(status)) return 422;
    handler(event);
    return 200;
  };
}
