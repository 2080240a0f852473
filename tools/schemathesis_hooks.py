"""Schemathesis hooks for `cargo xtask schemathesis` (loaded through SCHEMATHESIS_HOOKS).

Schemathesis reuses one generated `Idempotency-Key` value across different requests. The server
rightly answers such a reuse with 422 `idempotency_key_reused`, which the tool would then report
as a valid request that was rejected. Each request therefore gets a key of its own: a valid key
keeps its shape and gains a unique prefix. Negative cases are left alone: the server must reject
them anyway, an invalid key is what some of them test, and editing a case makes Schemathesis
re-judge it, which would undo a case that leaves out a header (such as `Authorization`) on purpose.
"""

import re
import uuid

import schemathesis

# The schema of the header in spec/openapi.json (#/components/parameters/IdempotencyKey).
_VALID_KEY = re.compile(r"[!-~]{1,255}")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() != "idempotency-key":
            continue
        value = headers[name]
        if isinstance(value, str) and _VALID_KEY.fullmatch(value):
            # Unique across runs too: several passes may share one server.
            headers[name] = f"{uuid.uuid4().hex}-{value}"[:255]
