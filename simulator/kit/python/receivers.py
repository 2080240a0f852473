"""Two receivers' handlers for testing the runner: one correct, one with the flaws that hand-written
receivers often have. Both verify with the `standardwebhooks` package or hand-roll it from a blog
post, as partners do."""

import base64
import hashlib
import hmac
import json
import threading

from standardwebhooks import Webhook, WebhookVerificationError


class Receiver:
    """Correct: verifies the exact body bytes with standardwebhooks (signature and timestamp),
    answers 2xx to every verified event (unknown types, fields and enum values included), and
    treats a repeated `webhook-id` as already done."""

    def __init__(self, secret: str):
        self.webhook = Webhook(secret)
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        self.events: list[dict] = []

    def __call__(self, headers: dict, body: bytes) -> int:
        try:
            event = self.webhook.verify(body, headers)
        except WebhookVerificationError:
            return 400
        with self.lock:
            if headers["webhook-id"] in self.seen:
                return 200
            self.seen.add(headers["webhook-id"])
            self.events.append(event)
        return 204


KNOWN_FIELDS = {"api_version", "data", "id", "test", "timestamp", "type"}


class HandRolledReceiver:
    """Broken: computes the HMAC itself but compares only the first signature in the header and
    never checks the timestamp's age, and its strict model rejects unknown top-level fields."""

    def __init__(self, secret: str):
        self.key = base64.b64decode(secret.removeprefix("whsec_"))

    def __call__(self, headers: dict, body: bytes) -> int:
        try:
            signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
            first = headers["webhook-signature"].split(" ")[0]
        except KeyError:
            return 400
        expected = "v1," + base64.b64encode(hmac.new(self.key, signed, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(first, expected):
            return 401
        event = json.loads(body)
        if set(event) - KNOWN_FIELDS:
            return 422
        return 200
