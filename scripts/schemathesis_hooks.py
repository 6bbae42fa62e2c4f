"""Schemathesis hooks for the contract test (domainctl/tests/api/contract.rs sets
SCHEMATHESIS_HOOKS to this file).

A generated `Idempotency-Key` is a short string that repeats across unrelated generated
requests, so the server would answer them, correctly, with the first request's kept answer
(a domain deleted since) or `422 IDEMPOTENCY_KEY_REUSED`: answers the fuzzer cannot tell
from faults. Every valid key it generates is made unique here; invalid ones are left as
they are, so the refusal of malformed keys stays under test. Replays and reuse are tested
on purpose in domainctl/tests/api/idempotency.rs.
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
