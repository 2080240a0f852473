// The runner against a correct and a broken receiver. CONFORMANCE_PACK names the pack
// (`cargo xtask kit` exports it).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { conformanceTests, loadPack, runPack } from './webhook-conformance.mjs';
import { brittleReceiver, receiver } from './receivers.mjs';

const pack = loadPack(process.env.CONFORMANCE_PACK);
const failed = (outcomes) => new Set(outcomes.filter((o) => !o.passed).map((o) => o.id));

// What a partner writes: one test per case, every one passing for a correct receiver.
conformanceTests(pack, { factory: () => receiver(pack.secret), name: 'correct receiver' });

test('every case reaches the correct receiver', async () => {
  const receivers = [];
  const outcomes = await runPack(pack, {
    factory: () => {
      receivers.push(receiver(pack.secret));
      return receivers.at(-1);
    },
  });
  assert.deepEqual(failed(outcomes), new Set());
  const requests = pack.cases.reduce((n, c) => n + c.requests.length, 0);
  assert.equal(outcomes.reduce((n, o) => n + o.statuses.length, 0), requests);
  const duplicates = pack.cases.filter((c) => c.id === 'robustness.duplicate_id').reduce((n, c) => n + c.requests.length - 1, 0);
  const accepted = pack.cases.filter((c) => c.expect === '2xx').reduce((n, c) => n + c.requests.length, 0) - duplicates;
  assert.equal(receivers.reduce((n, r) => n + r.events.length, 0), accepted);
});

test('the broken receiver fails exactly its flaws', async () => {
  const outcomes = await runPack(pack, { factory: () => brittleReceiver(pack.secret) });
  assert.deepEqual(
    failed(outcomes),
    new Set(['robustness.duplicate_id', 'tolerance.unknown_event_type', 'compatibility.unknown_enum_value']),
  );
  const byId = Object.fromEntries(outcomes.map((o) => [o.id, o]));
  assert.deepEqual(byId['robustness.duplicate_id'].statuses, [200, 409]);
  assert.equal(
    byId['tolerance.unknown_event_type'].detail,
    'raised Error: no handler for interview.rescheduled (a framework answers 500)',
  );
});

test('the pinned clock is what makes the pack meaningful', async () => {
  // With the live clock the pack's signatures are stale: every 2xx case fails, and the two
  // timestamp attacks pass whatever the receiver does.
  const outcomes = await runPack(pack, { factory: () => receiver(pack.secret), pinClock: false });
  for (const [i, c] of pack.cases.entries()) assert.equal(outcomes[i].passed, c.expect === '4xx', c.id);
});
