"""schemathesis hooks for tests/schemathesis.rs: how the generated requests authenticate.

CHATCORE_ST_BASE is the API base URL. CHATCORE_ST_SESSIONS says how:
- `shared`: one account's session for every request (logged in again if it ever ends);
- `fresh`: a new account and session for every request, for the operations that end the
  session they are called with (logout, unregistering, revoking it, changing the password).
"""

import ast
import os
import threading
import time
import uuid

import requests
import schemathesis
import schemathesis.specs.openapi.checks  # noqa: F401 (registers the built-in checks first)
from schemathesis.checks import CHECKS

BASE = os.environ["CHATCORE_ST_BASE"]
SESSIONS = os.environ.get("CHATCORE_ST_SESSIONS", "shared")
PASSWORD = "schemathesis fuzzing"

# CPython 3.11's `ast.parse` is not safe in several threads at once ("AST constructor recursion
# depth mismatch"); hypothesis parses sources to describe filters, from every worker.
_parse = ast.parse
_parsing = threading.RLock()


def _parse_alone(*args, **kwargs):
    with _parsing:
        return _parse(*args, **kwargs)


ast.parse = _parse_alone

# schemathesis.toml turns `use_after_free` off for `list_read_receipts` (a deleted message stays
# as a tombstone, so who read it can still be asked), but schemathesis 4.32's stateful phase runs
# the project-wide checks only; this applies that one per-operation setting there too.
_use_after_free = CHECKS.get_one("use_after_free")


def use_after_free(ctx, response, case):
    if case.operation.path == "/chats/{id}/messages/{message_id}/receipts":
        return None
    return _use_after_free(ctx, response, case)


CHECKS.register(use_after_free)


def _post(path, body):
    """POSTs, waiting out rate limits (429 with `Retry-After`)."""
    for _ in range(20):
        response = requests.post(f"{BASE}{path}", json=body, timeout=30)
        if response.status_code != 429:
            return response
        time.sleep(float(response.headers.get("Retry-After", "1")))
    return response


def _session(username):
    """A token for `username`, registering the account the first time."""
    response = _post("/auth/login", {"login": username, "password": PASSWORD})
    if response.status_code == 401:
        response = _post("/auth/register", {"username": username, "password": PASSWORD})
    response.raise_for_status()
    return response.json()["session"]["token"]


def _apply(case, token):
    case.headers = case.headers or {}
    case.headers["Authorization"] = f"Bearer {token}"


if SESSIONS == "shared":

    @schemathesis.auth(refresh_interval=3600)
    class SharedSession:
        def get(self, case, context):
            return _session("schemathesis")

        def set(self, case, data, context):
            _apply(case, data)

else:

    @schemathesis.auth(refresh_interval=None)
    class FreshSession:
        def get(self, case, context):
            return _session(f"st-{uuid.uuid4().hex[:12]}")

        def set(self, case, data, context):
            _apply(case, data)
