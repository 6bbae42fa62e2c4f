"""Schemathesis hooks for the contract test (domainctl/tests/api/contract.rs sets
SCHEMATHESIS_HOOKS to this file).

A generated `Idempotency-Key` is a short string that repeats across unrelated generated
requests, so the server would answer them, correctly, with the first request's kept answer
(a domain deleted since) or `422 IDEMPOTENCY_KEY_REUSED`: answers the fuzzer cannot tell
from faults. Every valid key it generates is made unique here; invalid ones are left as
they are, so the refusal of malformed keys stays under test. Replays and reuse are tested
on purpose in domainctl/tests/api/idempotency.rs.

A generated webhook `url` that the server would accept names a host somewhere on the
Internet, which a test event would then be sent to: every generated `https` address is
pointed at a closed port on loopback (the contract test's server allows 127.0.0.1 only),
so fuzzing never sends anything off the machine. Other schemes are left as generated, so
their refusal stays under test.
"""

import re
import uuid

import schemathesis

VALID = re.compile(r"[!-~]([ -~]*[!-~])?")


@schemathesis.hook
def map_headers(context, headers):
    if headers is None:
        return headers
    for name in list(headers):
        if name.lower() != "idempotency-key":
            continue
        value = headers[name]
        if isinstance(value, str) and len(value) <= 255 and VALID.fullmatch(value):
            headers[name] = f"st-{uuid.uuid4()}"
    return headers


CLOSED_PORT_ON_LOOPBACK = "http://127.0.0.1:9/hooks"


@schemathesis.hook
def map_body(context, body):
    if isinstance(body, dict) and isinstance(body.get("url"), str):
        if body["url"].lower().startswith("https://"):
            body["url"] = CLOSED_PORT_ON_LOOPBACK
    return body
