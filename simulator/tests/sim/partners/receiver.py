"""A partner's webhook receiver in Python (standard library only), correct or with one flaw that
the grader must catch. Run: python3 receiver.py SECRET FLAW; it prints the port it listens on.

Flaws:
  none          verifies every delivery correctly and accepts it.
  strict        parses payloads like a strict model (pydantic `extra="forbid"`, closed enums):
                rejects a field or an enum value it does not know.
  order         rejects an application status older than one already received (409).
  slow_burst    handles one request at a time behind a lock, 130 ms each: fine alone, but the
                last of 16 concurrent deliveries waits about 2 s.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET, FLAW = sys.argv[1], sys.argv[2]
KEY = base64.b64decode(SECRET[len("whsec_"):])
EXAMPLES_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "spec", "webhooks", "examples")
EXAMPLES = {}
for name in os.listdir(EXAMPLES_DIR):
    with open(os.path.join(EXAMPLES_DIR, name)) as f:
        EXAMPLES[name[: -len(".json")]] = json.load(f)
KNOWN_STATUSES = {"pending", "calling", "in_progress", "completed", "no_answer", "voicemail", "failed", "cancelled"}
KNOWN_OUTCOMES = {"completed", "no_answer", "voicemail", "invalid_number", "hung_up", "not_interested"}

lock = threading.Lock()
one_at_a_time = threading.Lock()
latest = {}  # application id -> event timestamp of the newest status seen


def verified(headers, body):
    msg_id, ts, signatures = headers.get("webhook-id"), headers.get("webhook-timestamp"), headers.get("webhook-signature")
    if not (msg_id and ts and signatures):
        return False
    try:
        if abs(time.time() - int(ts)) > 300:
            return False
    except ValueError:
        return False
    expected = base64.b64encode(hmac.new(KEY, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    return any(s.startswith("v1,") and hmac.compare_digest(s[3:], expected) for s in signatures.split(" "))


def strictly_known(value, example):
    """Every key of `value` exists at the same place in the published example; enums are closed."""
    if isinstance(value, dict) and isinstance(example, dict):
        for key, inner in value.items():
            if key not in example and key != "test":
                return False
            if key == "status" and example.get(key) in KNOWN_STATUSES and inner not in KNOWN_STATUSES:
                return False
            if key in example and not strictly_known(inner, example[key]):
                return False
        return True
    if isinstance(value, list) and isinstance(example, list) and example:
        if example and isinstance(example[0], str) and set(example) <= KNOWN_OUTCOMES:
            return all(v in KNOWN_OUTCOMES for v in value)
        return all(strictly_known(v, example[0]) for v in value)
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        status = self.judge(body)
        if FLAW == "slow_burst":
            with one_at_a_time:
                time.sleep(0.13)
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def judge(self, body):
        headers = {k.lower(): v for k, v in self.headers.items()}
        if not verified(headers, body):
            return 400
        event = json.loads(body)
        if FLAW == "strict":
            example = EXAMPLES.get(event.get("type"))
            if example is not None and not strictly_known(event, example):
                return 422
        if FLAW == "order" and event.get("type") == "application.status_changed":
            app = event["data"]["application"]["id"]
            with lock:
                if app in latest and event["timestamp"] < latest[app]:
                    return 409
                latest[app] = max(event["timestamp"], latest.get(app, ""))
        return 204


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
