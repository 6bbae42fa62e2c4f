//! [`IdempotencyStore`] on the table: one `IDEM#<org>#<key hash>` item per key, taken by a
//! conditional put (absent, or its time is past: a kept answer expired or a lease ran
//! out), filled or deleted only under the condition that the lease is still the writer's.
//! The item's TTL is its time, so the table forgets it by itself. A body that holds a
//! secret is kept sealed (`sealedBody`), never as the plain `body`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{corrupt, json, n, opt_num, opt_str, s};
use super::{DynamoStore, classify, conflict_unless_met, is_condition_failure};
use crate::model::Timestamp;
use crate::store::schema::{EXPIRES_AT, IDEMPOTENCY_SK, PK, SK, idempotency_pk};
use crate::store::{
    IdempotencySlot, IdempotencyStore, Kept, KeptBody, KeptResponse, Lease, StoreError,
};

const FINGERPRINT: &str = "fingerprint";
const TOKEN: &str = "leaseToken";
/// Until when the lease holds (running) or the answer is kept (done), in seconds.
const UNTIL: &str = "until";
const STATUS: &str = "status";
const HEADERS: &str = "headers";
const BODY: &str = "body";
/// A body that holds a secret: the [`crate::model::SealedKey`] of it, as JSON.
const SEALED_BODY: &str = "sealedBody";

/// A put that lost to a record which then vanished (it expired and was taken and released
/// meanwhile) is tried again this many times.
const ATTEMPTS: usize = 3;

fn seconds(at: Timestamp) -> i64 {
    at.datetime().unix_timestamp()
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn begin_idempotent(
        &self,
        slot: &IdempotencySlot,
        lease: &Lease,
        now: Timestamp,
    ) -> Result<Option<Kept>, StoreError> {
        let pk = idempotency_pk(&slot.org, &slot.key_hash);
        for _ in 0..ATTEMPTS {
            let item = HashMap::from([
                (PK.to_owned(), s(pk.clone())),
                (SK.to_owned(), s(IDEMPOTENCY_SK)),
                (FINGERPRINT.to_owned(), s(lease.fingerprint.clone())),
                (TOKEN.to_owned(), s(lease.token.clone())),
                (UNTIL.to_owned(), n(seconds(lease.until))),
                (EXPIRES_AT.to_owned(), n(seconds(lease.until))),
            ]);
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                // Our own token: the SDK resent a put whose answer was lost, which must not
                // find its own lease and answer "in use".
                .condition_expression(
                    "attribute_not_exists(#pk) OR #until <= :now OR #token = :token",
                )
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#until", UNTIL)
                .expression_attribute_names("#token", TOKEN)
                .expression_attribute_values(":now", n(seconds(now)))
                .expression_attribute_values(":token", s(lease.token.clone()))
                .send()
                .await;
            match put {
                Ok(_) => return Ok(None),
                Err(err) if is_condition_failure(&err) => {}
                Err(err) => return Err(classify(err)),
            }
            if let Some(item) = self.get_item(pk.clone(), IDEMPOTENCY_SK).await? {
                let kept = parse_kept(&item)?;
                if kept.1 > now {
                    return Ok(Some(kept.0));
                }
            }
        }
        Err(StoreError::Conflict)
    }

    async fn finish_idempotent(
        &self,
        slot: &IdempotencySlot,
        token: &str,
        response: &KeptResponse,
        until: Timestamp,
    ) -> Result<(), StoreError> {
        let headers = serde_json::to_string(&response.headers)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let (body_name, body) = match &response.body {
            KeptBody::Plain(bytes) => (BODY, AttributeValue::B(Blob::new(bytes.clone()))),
            KeptBody::Sealed(sealed) => (SEALED_BODY, json(sealed)),
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(idempotency_pk(&slot.org, &slot.key_hash)))
            .key(SK, s(IDEMPOTENCY_SK))
            .update_expression(
                "SET #status = :status, #headers = :headers, #body = :body, #until = :until, \
                 #ttl = :until",
            )
            .condition_expression("#token = :token AND attribute_not_exists(#status)")
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#headers", HEADERS)
            .expression_attribute_names("#body", body_name)
            .expression_attribute_names("#until", UNTIL)
            .expression_attribute_names("#ttl", EXPIRES_AT)
            .expression_attribute_names("#token", TOKEN)
            .expression_attribute_values(":status", n(response.status))
            .expression_attribute_values(":headers", s(headers))
            .expression_attribute_values(":body", body)
            .expression_attribute_values(":until", n(seconds(until)))
            .expression_attribute_values(":token", s(token))
            .send()
            .await;
        conflict_unless_met(result)
    }

    async fn release_idempotent(
        &self,
        slot: &IdempotencySlot,
        token: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(idempotency_pk(&slot.org, &slot.key_hash)))
            .key(SK, s(IDEMPOTENCY_SK))
            .condition_expression("#token = :token AND attribute_not_exists(#status)")
            .expression_attribute_names("#token", TOKEN)
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_values(":token", s(token))
            .send()
            .await;
        // A lease that ran out and was taken by another request is that request's now.
        match conflict_unless_met(result) {
            Err(StoreError::Conflict) => Ok(()),
            other => other,
        }
    }
}

/// The record and until when it holds the key.
fn parse_kept(item: &HashMap<String, AttributeValue>) -> Result<(Kept, Timestamp), StoreError> {
    let fingerprint = opt_str(item, FINGERPRINT).ok_or_else(|| corrupt(FINGERPRINT))?;
    let until = opt_num(item, UNTIL)
        .and_then(|at| time::OffsetDateTime::from_unix_timestamp(at).ok())
        .map(Timestamp::from_datetime)
        .ok_or_else(|| corrupt(UNTIL))?;
    let Some(status) = opt_num(item, STATUS) else {
        return Ok((Kept::Running { fingerprint, until }, until));
    };
    let status = u16::try_from(status).map_err(|_| corrupt(STATUS))?;
    let headers = opt_str(item, HEADERS)
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(|| corrupt(HEADERS))?;
    let body = match opt_str(item, SEALED_BODY) {
        Some(text) => {
            KeptBody::Sealed(serde_json::from_str(&text).map_err(|_| corrupt(SEALED_BODY))?)
        }
        None => item
            .get(BODY)
            .and_then(|v| v.as_b().ok())
            .map(|blob| KeptBody::Plain(blob.as_ref().to_vec()))
            .ok_or_else(|| corrupt(BODY))?,
    };
    let response = KeptResponse {
        status,
        headers,
        body,
    };
    Ok((
        Kept::Done {
            fingerprint,
            response,
        },
        until,
    ))
}
