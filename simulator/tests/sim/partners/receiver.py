"""A partner's webhook receiver in Python (standard library only), correct or with one flaw that
the grader must catch. Run: python3 receiver.py SECRET FLAW; it prints the port it listens on.

Flaws:
  none          verifies every delivery correctly and accepts it.
  strict        parses payloads like a model generated from the published schemas with
                pydantic `extra="forbid"` and closed enums: rejects a field or an enum value it
                does not know.
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
SCHEMA_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "spec", "webhooks")
SCHEMAS = {}
for name in os.listdir(SCHEMA_DIR):
    if name.endswith(".schema.json"):
        with open(os.path.join(SCHEMA_DIR, name)) as f:
            SCHEMAS[name[: -len(".schema.json")]] = json.load(f)
JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}

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


def strictly_known(value, schema, root):
    """What a model generated from the schema with `extra="forbid"` and closed enums accepts."""
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return strictly_known(value, target, root)
    if schema.get("x-open-enum"):
        schema = schema["anyOf"][0]  # the flaw: only the values known today
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return any(strictly_known(value, arm, root) for arm in schema[key])
    if "const" in schema:
        return value == schema["const"]
    if "enum" in schema:
        return value in schema["enum"]
    types = schema.get("type")
    types = types if isinstance(types, list) else [types] if types else []
    if types and not any(
        isinstance(value, JSON_TYPES[t]) if t in JSON_TYPES else isinstance(value, (int, float)) and not isinstance(value, bool)
        for t in types
    ):
        return False
    if isinstance(value, dict):
        if "properties" in schema:
            return all(k in schema["properties"] and strictly_known(v, schema["properties"][k], root) for k, v in value.items())
        extra = schema.get("additionalProperties")
        return not isinstance(extra, dict) or all(strictly_known(v, extra, root) for v in value.values())
    if isinstance(value, list) and "items" in schema:
        return all(strictly_known(v, schema["items"], root) for v in value)
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
            schema = SCHEMAS.get(event.get("type"))
            if schema is not None and not strictly_known(event, schema, schema):
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
