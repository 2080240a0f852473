// Runs a webhook-sim conformance pack against a webhook receiver's handler, in-process.
//
// Make a pack once (it holds every case of `webhook-sim check` as data, signed with your test
// secret for a fixed moment):
//
//     webhook-sim check --export pack.json --secret whsec_...
//
// Then, in a test file run with `node --test`, one test per case:
//
//     import { conformanceTests } from './webhook-conformance.mjs';
//     import { handle } from '../src/webhooks.js'; // handle({ method, headers, body }) => status
//
//     conformanceTests('pack.json', { handler: handle });
//
// A handler gets the method, the headers (names in lower case) and the exact body bytes (a
// Buffer), and returns, or resolves to, the HTTP status it would answer: a number, or a response
// object with `status` (fetch's Response) or `statusCode`. A thrown error counts as the 500 a
// framework would answer. Pass `factory` instead of `handler` to get a fresh handler (and fresh
// state) for every case.
//
// While a case runs, Date is pinned to the pack's `timestamp` with node:test's mock timers, since
// every request is signed for that moment. Pass `pinClock: false` if the handler takes its clock
// from elsewhere; then pin it yourself. Needs Node.js 20.11 or later, and nothing from npm.

import { readFileSync } from 'node:fs';
import { test, mock } from 'node:test';

export const FORMAT = 'webhook-sim-conformance-pack/1';

/** Reads a pack file (or checks an already loaded one). */
export function loadPack(pack) {
  const loaded = typeof pack === 'string' || pack instanceof URL ? JSON.parse(readFileSync(pack, 'utf8')) : pack;
  if (loaded?.format !== FORMAT) {
    throw new Error(`not a ${FORMAT} pack (format ${JSON.stringify(loaded?.format)}); re-export it with this webhook-sim`);
  }
  return loaded;
}

/**
 * Sends one case's requests to the handler (all at once when the case is concurrent) and
 * returns { id, required, passed, statuses, detail }.
 */
export async function runCase(pack, testCase, handler, { pinClock = true, timers = mock.timers } = {}) {
  const requests = testCase.requests.map((r) => ({
    method: r.method,
    headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k.toLowerCase(), v])),
    body: Buffer.from(r.body_base64, 'base64'),
  }));
  const send = async (request) => {
    try {
      return { status: statusOf(await handler({ ...request, headers: { ...request.headers } })) };
    } catch (error) {
      return { error: `${error?.name ?? 'Error'}: ${error?.message ?? error}` };
    }
  };
  if (pinClock) timers.enable({ apis: ['Date'], now: pack.timestamp * 1000 });
  let answers;
  try {
    if (testCase.concurrent) {
      answers = await Promise.all(requests.map(send));
    } else {
      answers = [];
      for (const request of requests) answers.push(await send(request));
    }
  } finally {
    if (pinClock) timers.reset();
  }
  const detail = judge(testCase.expect, answers);
  return {
    id: testCase.id,
    required: testCase.required !== false,
    passed: detail === null,
    statuses: answers.map((a) => a.status ?? null),
    detail: detail ?? '',
  };
}

/** Runs every case of the pack; returns an outcome per case, in order. */
export async function runPack(pack, { handler, factory, pinClock = true } = {}) {
  const loaded = loadPack(pack);
  const make = maker(handler, factory);
  const outcomes = [];
  for (const testCase of loaded.cases) outcomes.push(await runCase(loaded, testCase, make(), { pinClock }));
  return outcomes;
}

/**
 * Registers one node:test test per case. A failing required case fails; a failing optional one
 * is reported as a todo.
 */
export function conformanceTests(pack, { handler, factory, pinClock = true, name = 'webhook conformance' } = {}) {
  const loaded = loadPack(pack);
  const make = maker(handler, factory);
  for (const testCase of loaded.cases) {
    test(`${name}: ${testCase.id}`, async (t) => {
      const outcome = await runCase(loaded, testCase, make(), { pinClock, timers: t.mock.timers });
      if (outcome.passed) return;
      if (!outcome.required) {
        t.todo(`optional case: ${outcome.detail}`);
        return;
      }
      throw new Error(`${testCase.id} (${testCase.title}): ${outcome.detail}`);
    });
  }
}

function maker(handler, factory) {
  if ((handler === undefined) === (factory === undefined)) throw new TypeError('pass either handler or factory');
  return factory ?? (() => handler);
}

function statusOf(answer) {
  for (const value of [answer?.status, answer?.statusCode, answer]) {
    if (Number.isInteger(value)) return value;
  }
  throw new TypeError(`the handler returned ${JSON.stringify(answer)}; return an HTTP status or a response object`);
}

function judge(expect, answers) {
  for (const [i, answer] of answers.entries()) {
    const which = answers.length > 1 ? `request ${i + 1} ` : '';
    const status = answer.status;
    if (answer.error !== undefined) return `${which}raised ${answer.error} (a framework answers 500)`;
    if (expect === '2xx' && !(status >= 200 && status < 300)) {
      return `${which}answered ${status}; a valid delivery must get 2xx, or the sender retries it`;
    }
    if (expect === '4xx' && status >= 200 && status < 300) {
      return `${which}answered ${status}: the receiver accepted a request it must reject`;
    }
    if (expect === '4xx' && status >= 500) {
      return `${which}answered ${status}; reject with 4xx, since a 5xx tells the sender to retry the forged request`;
    }
    if (expect === '4xx' && !(status >= 400 && status < 500)) return `${which}answered ${status}; expected 4xx`;
  }
  return null;
}
