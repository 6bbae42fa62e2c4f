//! `Idempotency-Key` on the creating `POST`s (register, claims, claim verify, DKIM
//! rotation, webhook endpoints and their secret rotation and test): the first answer to a key is kept 24 hours for the organization and key and
//! answered again, marked `Idempotent-Replayed: true`, to a repeat of the same request; a
//! different request with the key is `422 IDEMPOTENCY_KEY_REUSED`, and one that arrives
//! while the first still runs `409 IDEMPOTENCY_KEY_IN_USE`. Only an answer that changed
//! something (a 2xx) is kept: after a 4xx or a 5xx nothing happened, so a retry runs anew
//! and answers what is true then (the records published since, the limit passed), and no
//! client can make the table keep what it sent (an error may echo the request). An answer
//! that holds a secret is kept sealed, bound to the organization and the key.

use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use lambda_http::Body;
use lambda_http::http::{HeaderName, HeaderValue, StatusCode};

use super::request::{body_bytes, path_id};
use super::{Endpoint, Request, Response};
use crate::App;
use crate::aws::{DataKey, SealContext};
use crate::crypto::{random_token, sha256_hex};
use crate::error::ApiError;
use crate::model::OrgId;
use crate::store::{IdempotencySlot, Kept, KeptBody, KeptResponse, Lease};

pub const HEADER: &str = "idempotency-key";
/// Marks an answer replayed from a kept one.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long an answer is kept for its key.
pub const KEEP_FOR: time::Duration = time::Duration::hours(24);
/// Longer than any function may run (30 s at most: API Gateway's own limit), so a request
/// still running is never taken over; one that died frees its key this long after it began.
pub const LEASE: time::Duration = time::Duration::seconds(60);
/// The most `IDEMPOTENCY_KEY_IN_USE` asks a client to wait: a dead request's key frees when
/// its lease ends.
const MAX_RETRY_AFTER_SECONDS: i64 = 60;
/// The longest timeout of the functions that take keys (`verify-claim`'s, in
/// `template.yaml`); [`LEASE`] must stay above it.
const LONGEST_RUN_SECONDS: i64 = 30;
/// The largest answer kept: the service's own bodies are a few KiB.
const MAX_KEPT_BODY: usize = 64 * 1024;
/// Attempts at keeping an answer before the key is left to its lease.
const FINISH_ATTEMPTS: usize = 3;
pub const MAX_KEY_LEN: usize = 255;
/// The headers of an answer that are kept with it (the rest describe the transport).
const KEPT_HEADERS: [&str; 2] = ["content-type", "location"];

/// The endpoints that take a key: those that create something.
pub fn applies_to(endpoint: Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::Register
            | Endpoint::OpenClaim
            | Endpoint::VerifyClaim
            | Endpoint::RotateDkim
            | Endpoint::CreateWebhook
            | Endpoint::RotateWebhookSecret
            | Endpoint::TestWebhook
    )
}

/// The request's key, if it sent one: 1 to 255 printable ASCII characters, no space at
/// either end, given once.
pub fn key(request: &Request) -> Result<Option<&str>, ApiError> {
    let mut values = request.headers().get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::Validation(format!(
            "Idempotency-Key must be given once, as 1 to {MAX_KEY_LEN} printable ASCII \
             characters without spaces at either end"
        ))
    };
    if values.next().is_some() {
        return Err(invalid());
    }
    let bytes = value.as_bytes();
    let printable = bytes.iter().all(|b| (b' '..=b'~').contains(b));
    let trimmed = bytes.first() != Some(&b' ') && bytes.last() != Some(&b' ');
    if bytes.is_empty() || bytes.len() > MAX_KEY_LEN || !printable || !trimmed {
        return Err(invalid());
    }
    std::str::from_utf8(bytes).map(Some).map_err(|_| invalid())
}

/// What makes two requests "the same": the endpoint (method and route), its path
/// parameter and the body, byte for byte.
pub fn fingerprint(endpoint: Endpoint, request: &Request) -> String {
    let (method, route) = endpoint.route();
    let parts: [&[u8]; 4] = [
        method.as_bytes(),
        route.as_bytes(),
        path_id(request).unwrap_or_default().as_bytes(),
        body_bytes(request),
    ];
    // Each part's length first, so no two different splits of the same bytes collide.
    let mut framed = Vec::new();
    for part in parts {
        framed.extend_from_slice(&(part.len() as u64).to_be_bytes());
        framed.extend_from_slice(part);
    }
    sha256_hex(&framed)
}

/// Runs `work` for the request under its key: at most once per organization, key and
/// request while its answer is kept.
pub async fn run(
    app: &App,
    endpoint: Endpoint,
    org: &OrgId,
    key: &str,
    fingerprint: String,
    work: impl Future<Output = Result<Response, ApiError>>,
) -> Result<Response, ApiError> {
    let slot = IdempotencySlot {
        org: org.clone(),
        key_hash: sha256_hex(key.as_bytes()),
    };
    let now = app.now();
    let lease = Lease {
        fingerprint,
        token: random_token(),
        until: now.plus(LEASE),
    };
    let in_use = |until: Option<crate::model::Timestamp>| {
        let seconds = until.map_or(1, |until| {
            let left = (until.datetime() - now.datetime()).whole_seconds();
            let running_for = LEASE.whole_seconds() - left;
            // Within the longest a function runs, the holder is likely answering now; past
            // it, the holder died and the key frees when its lease ends.
            if running_for < LONGEST_RUN_SECONDS {
                1
            } else {
                left
            }
        });
        ApiError::IdempotencyKeyInUse {
            retry_after: seconds.clamp(1, MAX_RETRY_AFTER_SECONDS) as u64,
        }
    };
    let begun = match app.store().begin_idempotent(&slot, &lease, now).await {
        // Lost the take to other requests again and again: they hold the key.
        Err(crate::store::StoreError::Conflict) => return Err(in_use(None)),
        other => other?,
    };
    match begun {
        Some(kept) if kept.fingerprint() != lease.fingerprint => {
            return Err(ApiError::IdempotencyKeyReused);
        }
        Some(Kept::Running { until, .. }) => return Err(in_use(Some(until))),
        Some(Kept::Done { response, .. }) => return replay(app, &slot, response).await,
        None => {}
    }
    // An answer that will hold a secret is kept sealed: its data key is made now, so a
    // refusal (KMS throttled or down) is a 503 before anything is done, never work done
    // whose answer cannot be kept (a retry would do it again).
    let data_key = if holds_secret(endpoint) {
        match data_key(app, &slot).await {
            Ok(key) => Some(key),
            Err(error) => {
                release(app, &slot, &lease.token).await;
                return Err(error);
            }
        }
    } else {
        None
    };
    // A panic frees the key before it goes on up to the handler's own catch.
    let result = match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            release(app, &slot, &lease.token).await;
            std::panic::resume_unwind(panic);
        }
    };
    let response = match &result {
        Ok(response) if response.status().is_success() => response,
        // Not a 2xx: nothing changed, so a retry runs anew.
        _ => {
            release(app, &slot, &lease.token).await;
            return result;
        }
    };
    let body = body_of(response);
    if body.len() > MAX_KEPT_BODY {
        tracing::error!(
            bytes = body.len(),
            "an idempotent answer is too large to keep"
        );
        release(app, &slot, &lease.token).await;
        return result;
    }
    let body = match &data_key {
        Some(key) => match key.seal(kept_context(&slot), &body) {
            Ok(sealed) => KeptBody::Sealed(sealed),
            Err(error) => {
                // Never kept in plain text instead: the client has its answer, and the key
                // stays leased until the lease runs out, as when keeping fails.
                tracing::error!(error = %error, "an idempotent answer could not be sealed");
                return result;
            }
        },
        None => KeptBody::Plain(body),
    };
    let answer = KeptResponse {
        status: response.status().as_u16(),
        headers: kept_headers(response),
        body,
    };
    keep(app, &slot, &lease.token, &answer).await;
    result
}

/// The endpoints whose answer holds a secret (a webhook's signing secret, shown once):
/// kept sealed, bound to the organization and the key.
pub fn holds_secret(endpoint: Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::CreateWebhook | Endpoint::RotateWebhookSecret
    )
}

fn kept_context(slot: &IdempotencySlot) -> SealContext<'_> {
    SealContext::KeptAnswer {
        org_id: &slot.org,
        key_hash: &slot.key_hash,
    }
}

/// Only the webhook endpoints' answers hold secrets, and their functions build the
/// deliverer, whose sealer is the one secrets are sealed with.
async fn data_key(app: &App, slot: &IdempotencySlot) -> Result<DataKey, ApiError> {
    let sealer = app.deliverer()?.sealer();
    Ok(sealer.data_key(kept_context(slot)).await?)
}

/// A sealed answer that does not open (tampered with, or moved to another organization's
/// or key's record) is a 500, its cause logged, and nothing of it answered.
async fn open(
    app: &App,
    slot: &IdempotencySlot,
    sealed: &crate::model::SealedKey,
) -> Result<Vec<u8>, ApiError> {
    let sealer = app.deliverer()?.sealer();
    sealer
        .open(sealed, kept_context(slot))
        .await
        .map_err(|error| {
            ApiError::Internal(format!(
                "the answer kept for {} under key hash {} does not open: {error}",
                slot.org, slot.key_hash
            ))
        })
}

/// Keeps `answer` for the key, trying again where the store failed: the work is done, and a
/// retry that found no answer would run it a second time.
async fn keep(app: &App, slot: &IdempotencySlot, token: &str, answer: &KeptResponse) {
    for attempt in 1..=FINISH_ATTEMPTS {
        let until = app.now().plus(KEEP_FOR);
        match app
            .store()
            .finish_idempotent(slot, token, answer, until)
            .await
        {
            Ok(()) => return,
            // Our lease was taken over (it ran out): the answer is the client's alone.
            Err(crate::store::StoreError::Conflict) => break,
            Err(error) if attempt < FINISH_ATTEMPTS => {
                tracing::warn!(error = %error, attempt, "keeping an idempotent answer; again");
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            Err(error) => {
                // The client gets the real answer either way; the key stays leased until
                // the lease runs out.
                tracing::error!(error = %error, "an idempotent answer could not be kept");
            }
        }
    }
}

async fn release(app: &App, slot: &IdempotencySlot, token: &str) {
    if let Err(error) = app.store().release_idempotent(slot, token).await {
        tracing::error!(error = %error, "an idempotency key could not be released");
    }
}

fn kept_headers(response: &Response) -> Vec<(String, String)> {
    KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect()
}

fn body_of(response: &Response) -> Vec<u8> {
    match response.body() {
        Body::Text(text) => text.as_bytes().to_vec(),
        Body::Binary(bytes) => bytes.clone(),
        _ => Vec::new(),
    }
}

async fn replay(
    app: &App,
    slot: &IdempotencySlot,
    kept: KeptResponse,
) -> Result<Response, ApiError> {
    let body = match kept.body {
        KeptBody::Plain(bytes) => bytes,
        KeptBody::Sealed(sealed) => open(app, slot, &sealed).await?,
    };
    let body = match String::from_utf8(body) {
        Ok(text) => Body::Text(text),
        Err(bytes) => Body::Binary(bytes.into_bytes()),
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(kept.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in kept.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use lambda_http::RequestExt;
    use proptest::prelude::*;

    use super::*;

    fn request_with(keys: &[&[u8]], id: Option<&str>, body: &str) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/api/email/domains");
        for key in keys {
            builder = builder.header(HEADER, HeaderValue::from_bytes(key).unwrap());
        }
        let request = builder.body(Body::Text(body.to_owned())).unwrap();
        match id {
            Some(id) => request.with_path_parameters(std::collections::HashMap::from([(
                "id".to_owned(),
                id.to_owned(),
            )])),
            None => request,
        }
    }

    /// The rule, written out once more: what `key` must accept.
    fn acceptable(bytes: &[u8]) -> bool {
        !bytes.is_empty()
            && bytes.len() <= MAX_KEY_LEN
            && bytes.iter().all(|b| (b' '..=b'~').contains(b))
            && bytes[0] != b' '
            && bytes[bytes.len() - 1] != b' '
    }

    #[test]
    fn keys_at_the_edges() {
        let longest = [b'k'; MAX_KEY_LEN];
        let accepted: [&[u8]; 4] = [b"k", &longest, b"a b", b"~!\"#"];
        for given in accepted {
            let request = request_with(&[given], None, "");
            assert_eq!(key(&request).unwrap().map(str::as_bytes), Some(given));
        }
        let too_long = [b'k'; MAX_KEY_LEN + 1];
        let refused: [&[u8]; 5] = [b"", &too_long, b" a", b"a ", b"caf\xc3\xa9"];
        for given in refused {
            let request = request_with(&[given], None, "");
            assert!(
                matches!(key(&request), Err(ApiError::Validation(_))),
                "{given:?}"
            );
        }
        assert_eq!(key(&request_with(&[], None, "")).unwrap(), None);
        let twice = request_with(&[b"a", b"a"], None, "");
        assert!(matches!(key(&twice), Err(ApiError::Validation(_))));
    }

    #[test]
    fn the_same_request_is_the_same_endpoint_id_and_body() {
        let print = |endpoint, id, body| fingerprint(endpoint, &request_with(&[], id, body));
        let base = print(Endpoint::Register, None, r#"{"domain":"a.example"}"#);
        assert_eq!(
            base,
            print(Endpoint::Register, None, r#"{"domain":"a.example"}"#)
        );
        let others = [
            print(Endpoint::Register, None, r#"{"domain": "a.example"}"#),
            print(Endpoint::OpenClaim, None, r#"{"domain":"a.example"}"#),
            print(
                Endpoint::RotateDkim,
                Some("dom_1"),
                r#"{"domain":"a.example"}"#,
            ),
        ];
        assert!(others.iter().all(|other| *other != base));
        // Where one part ends and the next begins is part of the fingerprint.
        assert_ne!(
            print(Endpoint::VerifyClaim, Some("ab"), "c"),
            print(Endpoint::VerifyClaim, Some("a"), "bc")
        );
    }

    #[test]
    fn answers_holding_secrets_are_sealed_where_a_sealer_is_built() {
        for endpoint in Endpoint::ALL.into_iter().filter(|e| holds_secret(*e)) {
            assert!(applies_to(endpoint), "{endpoint:?} takes no key");
            assert!(endpoint.needs().webhooks, "{endpoint:?} has no sealer");
        }
        assert!(
            holds_secret(Endpoint::CreateWebhook) && holds_secret(Endpoint::RotateWebhookSecret)
        );
        assert!(!holds_secret(Endpoint::TestWebhook) && !holds_secret(Endpoint::Register));
    }

    proptest! {
        #[test]
        fn any_header_bytes_are_judged_by_the_rule_without_a_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..300)
        ) {
            // Bytes no header may hold never reach a handler; the rest are judged.
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let request = request_with(&[value.as_bytes()], None, "");
                let judged = key(&request);
                prop_assert_eq!(judged.is_ok(), acceptable(value.as_bytes()), "{:?}", value);
                if let Ok(Some(text)) = judged {
                    prop_assert_eq!(text.as_bytes(), value.as_bytes());
                }
            }
        }

        #[test]
        fn fingerprints_differ_when_bodies_do(a in ".{0,64}", b in ".{0,64}") {
            let print = |body: &str| fingerprint(Endpoint::Register, &request_with(&[], None, body));
            prop_assert_eq!(print(&a) == print(&b), a == b);
        }
    }
}
