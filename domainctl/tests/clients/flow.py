"""A whole flow through the Python client generated from docs/openapi.yaml, against a
running server, as an integrator would write it: every call with the client's own
defaults (it sends limit=20&offset=0 on every list call, a cursor's included).

Run by domainctl/tests/api/clients.rs with DOMAINS_URL and DOMAINS_API_KEY set and the
generated package `domains_client` on PYTHONPATH; any failed expectation exits non-zero.
WEBHOOK_URL is a receiver the test runs; the new endpoint's secret is written to
WEBHOOK_SECRET_FILE, for the test to verify what the receiver got.
"""

import os

from domains_client import AuthenticatedClient
from domains_client.api.dns import get_zone_file, verify_domain
from domains_client.api.webhooks import (
    create_webhook,
    delete_webhook,
    list_webhook_deliveries,
    list_webhooks,
    test_webhook,
)
from domains_client.api.domains import (
    delete_domain,
    get_domain,
    list_domains,
    register_domain,
    update_domain,
)
from domains_client.models import (
    Deleted,
    DomainDetail,
    DomainList,
    Error,
    ErrorCode,
    RegisteredDomain,
    RegisterRequest,
    Status,
    UpdatedDomain,
    UpdateRequest,
    VerificationFailed,
    CreateWebhookRequest,
    WebhookAttempt,
    WebhookAttemptOutcome,
    WebhookDeliveries,
    WebhookEventType,
    WebhookList,
    WebhookWithSecret,
)
from domains_client.types import UNSET


def expect(condition, *what):
    if not condition:
        raise SystemExit("flow: expectation failed: " + " ".join(repr(w) for w in what))


client = AuthenticatedClient(
    base_url=os.environ["DOMAINS_URL"],
    token=os.environ["DOMAINS_API_KEY"],
    raise_on_unexpected_status=True,
)

# Register: plain names, an internationalised one, one with a trailing dot.
names = [f"flow{i}.example" for i in range(5)] + ["bücher-eco.com", "trailing-dot.example."]
registered = []
for i, name in enumerate(names):
    reply = register_domain.sync_detailed(
        client=client, body=RegisterRequest(domain=name), idempotency_key=f"flow-{i}"
    )
    expect(reply.status_code == 201, name, reply.status_code, reply.content)
    expect(isinstance(reply.parsed, RegisteredDomain), reply.parsed)
    registered.append(reply.parsed)
expect(registered[5].domain == "xn--bcher-eco-q9a.com", registered[5].domain)
expect(registered[6].domain == "trailing-dot.example", registered[6].domain)
canonical = sorted(d.domain for d in registered)

# A retry with the same Idempotency-Key: the first answer again, marked as such.
retry = register_domain.sync_detailed(
    client=client, body=RegisterRequest(domain=names[0]), idempotency_key="flow-0"
)
expect(retry.status_code == 201, retry.status_code, retry.content)
expect(retry.headers.get("idempotent-replayed") == "true", dict(retry.headers))
expect(retry.parsed.id == registered[0].id, retry.parsed.id, registered[0].id)
reused = register_domain.sync_detailed(
    client=client, body=RegisterRequest(domain="other.example"), idempotency_key="flow-0"
)
expect(reused.status_code == 422, reused.status_code, reused.content)

# List with nothing but the defaults, then page by nextCursor.
everything = list_domains.sync(client=client)
expect(isinstance(everything, DomainList), everything)
expect(everything.total == len(names) and everything.limit == 20, everything.total)
walked = []
cursor = UNSET
pages = 0
while True:
    page = list_domains.sync(client=client, limit=2, cursor=cursor)
    expect(isinstance(page, DomainList), page)
    walked += [d.domain for d in page.domains]
    pages += 1
    if not page.next_cursor:
        break
    cursor = page.next_cursor
expect(pages == 4, pages)
expect(sorted(walked) == canonical, walked)

# Get, patch (suspend, then back: never verified, so pending), verify (the 422 parsed).
first = registered[0].id
detail = get_domain.sync(first, client=client)
expect(isinstance(detail, DomainDetail), detail)
expect(detail.status == Status.PENDING and len(detail.dns_records) >= 3, detail.status)
suspended = update_domain.sync(first, client=client, body=UpdateRequest(status=Status.SUSPENDED))
expect(isinstance(suspended, UpdatedDomain) and suspended.status == Status.SUSPENDED, suspended)
resumed = update_domain.sync(first, client=client, body=UpdateRequest(status=Status.ACTIVE))
expect(isinstance(resumed, UpdatedDomain) and resumed.status == Status.PENDING, resumed)
verify = verify_domain.sync_detailed(first, client=client)
expect(verify.status_code == 422, verify.status_code, verify.content)
expect(isinstance(verify.parsed, VerificationFailed), verify.parsed)
expect(verify.parsed.error.details.verification_status.ownership is False, verify.content)
expect(verify.parsed.error.details.status == Status.PENDING, verify.content)

# The zone file.
zone = get_zone_file.sync_detailed(first, client=client)
expect(zone.status_code == 200, zone.status_code)
text = zone.content.decode()
expect(f"_amazonses.{registered[0].domain}." in text, text)

# Delete, then the domain is gone (the 404 parsed too).
deleted = delete_domain.sync(first, client=client)
expect(isinstance(deleted, Deleted) and deleted.success, deleted)
gone = get_domain.sync(first, client=client)
expect(isinstance(gone, Error) and gone.error.code == ErrorCode.DOMAIN_NOT_FOUND, gone)
left = list_domains.sync(client=client)
expect(left.total == len(names) - 1, left.total)
# A webhook created (its secret shown once), tested, its delivery logged, then deleted.
created = create_webhook.sync_detailed(
    client=client,
    body=CreateWebhookRequest(
        url=os.environ["WEBHOOK_URL"],
        events=[WebhookEventType.DOMAIN_VERIFIED, WebhookEventType.DOMAIN_DELETED],
    ),
    idempotency_key="flow-webhook",
)
expect(created.status_code == 201, created.status_code, created.content)
expect(isinstance(created.parsed, WebhookWithSecret), created.parsed)
expect(created.parsed.secret.startswith("whsec_"), created.parsed.secret)
with open(os.environ["WEBHOOK_SECRET_FILE"], "w") as kept:
    kept.write(created.parsed.secret)
hook = created.parsed.id
listed = list_webhooks.sync(client=client)
expect(isinstance(listed, WebhookList) and listed.total == 1, listed)
tested = test_webhook.sync(hook, client=client)
expect(isinstance(tested, WebhookAttempt), tested)
expect(tested.outcome == WebhookAttemptOutcome.DELIVERED and tested.response_status == 200, tested)
log = list_webhook_deliveries.sync(hook, client=client)
expect(isinstance(log, WebhookDeliveries) and len(log.deliveries) == 1, log)
expect(log.deliveries[0].type_ == "webhook.test", log.deliveries[0])
removed = delete_webhook.sync(hook, client=client)
expect(isinstance(removed, Deleted) and removed.success, removed)

print(f"flow: {len(names)} registered, {pages} pages walked, verify 422 parsed, zone file read, one deleted, a webhook created and tested")
