"""The runner against a correct and a broken receiver. CONFORMANCE_PACK names the pack
(`cargo xtask kit` exports it)."""

import os

from receivers import HandRolledReceiver, Receiver
from webhook_conformance import load_pack, run_pack, conformance_tests

PACK = load_pack(os.environ["CONFORMANCE_PACK"])
SECRET = PACK["secret"]

# What a partner writes: one pytest test per case, every one passing for a correct receiver.
test_correct_receiver = conformance_tests(PACK, factory=lambda: Receiver(SECRET))


def failed(outcomes):
    return {o.id for o in outcomes if not o.passed}


def test_every_case_reaches_the_correct_receiver():
    receivers = []

    def make():
        receivers.append(Receiver(SECRET))
        return receivers[-1]

    outcomes = run_pack(PACK, factory=make)
    assert failed(outcomes) == set()
    requests = sum(len(c["requests"]) for c in PACK["cases"])
    assert sum(len(o.statuses) for o in outcomes) == requests
    # Every 2xx case's events were verified and parsed, the duplicate counted once.
    accepted = sum(len(r.events) for r in receivers)
    duplicates = sum(len(c["requests"]) - 1 for c in PACK["cases"] if c["id"] == "robustness.duplicate_id")
    expected = sum(len(c["requests"]) for c in PACK["cases"] if c["expect"] == "2xx") - duplicates
    assert accepted == expected


def test_the_broken_receiver_fails_exactly_its_flaws():
    outcomes = run_pack(PACK, factory=lambda: HandRolledReceiver(SECRET))
    assert failed(outcomes) == {
        "attack.stale_timestamp",
        "attack.future_timestamp",
        "tolerance.unknown_signature_version",
        "tolerance.rotation",
        "compatibility.unknown_top_level_field",
    }
    by_id = {o.id: o for o in outcomes}
    assert by_id["attack.stale_timestamp"].detail == "answered 200: the receiver accepted a request it must reject"
    assert by_id["compatibility.unknown_top_level_field"].statuses == [422]


def test_a_handler_that_raises_counts_as_500():
    def explodes(headers, body):
        raise RuntimeError("boom")

    outcomes = {o.id: o for o in run_pack(PACK, explodes)}
    assert outcomes["valid.webhook.test"].detail == "raised RuntimeError: boom (a framework answers 500)"
    assert not outcomes["attack.tampered_body"].passed


def test_the_pinned_clock_is_what_makes_the_pack_meaningful():
    # With the live clock the pack's signatures are stale: every 2xx case fails, and the two
    # timestamp attacks pass whatever the receiver does.
    outcomes = run_pack(PACK, factory=lambda: Receiver(SECRET), pin_clock=False)
    for case, outcome in zip(PACK["cases"], outcomes):
        assert outcome.passed == (case["expect"] == "4xx"), case["id"]
