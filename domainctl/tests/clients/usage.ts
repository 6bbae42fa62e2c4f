// Compiled with `tsc --strict` beside the types openapi-typescript generates from
// docs/openapi.yaml (domainctl/tests/api/clients.rs): what a TypeScript integrator writes
// against them must type-check, and what the document forbids must not.
import type { components, operations, paths } from "./api";

type Domain = components["schemas"]["DomainDetail"];
type Page = components["schemas"]["DomainList"];
type RegisterBody = paths["/api/email/domains"]["post"]["requestBody"]["content"]["application/json"];
type Registered = operations["registerDomain"]["responses"][201]["content"]["application/json"];
type Failed = operations["verifyDomain"]["responses"][422]["content"]["application/json"];
type IdempotencyKey = NonNullable<operations["registerDomain"]["parameters"]["header"]>["Idempotency-Key"];
type ListQuery = NonNullable<operations["listDomains"]["parameters"]["query"]>;

const body: RegisterBody = { domain: "bücher-eco.com", isDefault: true, region: "eu-west-1" };
const key: IdempotencyKey = "7c4a8d09-ca37-4e1a-9d2b-2f0e6b7e8a11";
const next: ListQuery = { limit: 20, offset: 0, cursor: "opaque" };

function names(page: Page): string[] {
    return page.domains.map((d) => d.domain);
}

function nextQuery(page: Page): ListQuery | null {
    return page.nextCursor === null ? null : { cursor: page.nextCursor };
}

function requiredMissing(failed: Failed): string[] {
    return failed.error.details.dnsRecords
        .filter((r) => r.required && r.status !== "verified")
        .map((r) => `${r.type} ${r.name}: ${r.reason ?? r.status}`);
}

function isActive(domain: Domain | Registered): boolean {
    return domain.status === "active";
}

// @ts-expect-error: an unknown status is not a Status.
const wrong: Domain["status"] = "deleted";

export { body, key, next, names, nextQuery, requiredMissing, isActive, wrong };
