"""Runs a webhook-sim conformance pack against a webhook receiver's handler, in-process.

Make a pack once (it holds every case of `webhook-sim check` as data, signed with your test
secret for a fixed moment):

    webhook-sim check --export pack.json --secret whsec_...

Then, in a pytest module, one test per case:

    from webhook_conformance import conformance_tests
    from myapp.webhooks import handle  # handle(headers: dict[str, str], body: bytes) -> int

    test_webhook_conformance = conformance_tests("pack.json", handle)

A handler takes the request headers (names in lower case) and the exact body bytes, and returns
the HTTP status it would answer: an int, or a response object with `status_code` (Django, Flask,
Starlette) or `status`. An exception counts as the 500 a framework would answer. Pass
`factory=` instead of a handler to get a fresh handler (and fresh state) for every case.

The receiver's clock is pinned to the pack's `timestamp` with freezegun while a case runs, since
every request is signed for that moment. Pass `pin_clock=False` if the handler takes its clock
from elsewhere; then pin it yourself.

Only the standard library and freezegun are needed; pytest only for `conformance_tests`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

FORMAT = "webhook-sim-conformance-pack/1"

Handler = Callable[[dict, bytes], Any]


@dataclass
class Outcome:
    """What a case got: `passed`, the status of each request (None when the handler raised),
    and a sentence saying why it failed."""

    id: str
    required: bool
    passed: bool
    statuses: list = field(default_factory=list)
    detail: str = ""


def load_pack(pack: str | os.PathLike | dict) -> dict:
    """Reads a pack file (or checks an already loaded one)."""
    if not isinstance(pack, dict):
        with open(pack, encoding="utf-8") as f:
            pack = json.load(f)
    if pack.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} pack (format {pack.get('format')!r}); re-export it with this webhook-sim")
    return pack


def run_case(pack: dict, case: dict, handler: Handler, *, pin_clock: bool = True) -> Outcome:
    """Sends one case's requests to `handler` (all at once when the case is concurrent)."""
    requests = [
        ({name.lower(): value for name, value in r["headers"].items()}, base64.b64decode(r["body_base64"]))
        for r in case["requests"]
    ]

    def send(request: tuple) -> tuple:
        headers, body = request
        try:
            return _status(handler(dict(headers), body)), None
        except Exception as e:  # noqa: BLE001 - any exception is what a framework turns into a 500
            return None, f"{type(e).__name__}: {e}"

    clock = _pinned(pack["timestamp"]) if pin_clock else contextlib.nullcontext()
    with clock:
        if case.get("concurrent"):
            with ThreadPoolExecutor(max_workers=len(requests)) as pool:
                answers = list(pool.map(send, requests))
        else:
            answers = [send(r) for r in requests]
    problem = _judge(case["expect"], answers)
    statuses = [status for status, _ in answers]
    return Outcome(case["id"], case.get("required", True), problem is None, statuses, problem or "")


def run_pack(
    pack: str | os.PathLike | dict,
    handler: Handler | None = None,
    *,
    factory: Callable[[], Handler] | None = None,
    pin_clock: bool = True,
) -> list[Outcome]:
    """Runs every case of the pack; returns an outcome per case, in order."""
    pack = load_pack(pack)
    make = _maker(handler, factory)
    return [run_case(pack, case, make(), pin_clock=pin_clock) for case in pack["cases"]]


def conformance_tests(
    pack: str | os.PathLike | dict,
    handler: Handler | None = None,
    *,
    factory: Callable[[], Handler] | None = None,
    pin_clock: bool = True,
):
    """A pytest test function parametrized with every case of the pack. A failing required case
    fails; a failing optional one is reported as xfail."""
    import pytest

    pack = load_pack(pack)
    make = _maker(handler, factory)

    @pytest.mark.parametrize("case", pack["cases"], ids=[c["id"] for c in pack["cases"]])
    def test_conformance(case):
        outcome = run_case(pack, case, make(), pin_clock=pin_clock)
        if outcome.passed:
            return
        if outcome.required:
            pytest.fail(f"{case['id']} ({case['title']}): {outcome.detail}", pytrace=False)
        pytest.xfail(f"optional case {case['id']}: {outcome.detail}")

    return test_conformance


def _maker(handler: Handler | None, factory: Callable[[], Handler] | None) -> Callable[[], Handler]:
    if (handler is None) == (factory is None):
        raise TypeError("pass either a handler or a factory")
    return factory if factory is not None else (lambda: handler)


def _status(answer: Any) -> int:
    for name in ("status_code", "status"):
        value = getattr(answer, name, None)
        if isinstance(value, int):
            return value
    if isinstance(answer, int) and not isinstance(answer, bool):
        return answer
    raise TypeError(f"the handler returned {answer!r}; return an HTTP status or a response object")


def _judge(expect: str, answers: Iterable[tuple]) -> str | None:
    answers = list(answers)
    for i, (status, error) in enumerate(answers):
        which = f"request {i + 1} " if len(answers) > 1 else ""
        if error is not None:
            return f"{which}raised {error} (a framework answers 500)"
        if expect == "2xx" and not 200 <= status < 300:
            return f"{which}answered {status}; a valid delivery must get 2xx, or the sender retries it"
        if expect == "4xx" and 200 <= status < 300:
            return f"{which}answered {status}: the receiver accepted a request it must reject"
        if expect == "4xx" and status >= 500:
            return f"{which}answered {status}; reject with 4xx, since a 5xx tells the sender to retry the forged request"
        if expect == "4xx" and not 400 <= status < 500:
            return f"{which}answered {status}; expected 4xx"
    return None


def _pinned(timestamp: int):
    try:
        from freezegun import freeze_time
    except ImportError as e:
        raise RuntimeError("pinning the clock needs freezegun (pip install freezegun), or pass pin_clock=False") from e
    return freeze_time(_utc(timestamp))


def _utc(timestamp: int):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(timestamp, tz=timezone.utc)

