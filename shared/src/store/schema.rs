//! The single-table layout: key shapes, attribute names, and the table definition used by
//! tests, the local CLI and (mirrored) the SAM template.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};

use crate::model::{ClaimId, DomainId, DomainName, OrgId, WebhookId, ZoneId};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1_PK: &str = "GSI1PK";
pub const GSI1_SK: &str = "GSI1SK";
/// Lists by status: every domain's keys under its organization and status, sorted by
/// `SK` (creation order).
pub const GSI2: &str = "GSI2";
pub const GSI2_PK: &str = "GSI2PK";

/// Due checks are spread over this many index partitions so that a burst of
/// registrations does not write to one hot key.
pub const CHECK_SHARDS: u32 = 4;

pub fn org_pk(org: &OrgId) -> String {
    format!("ORG#{org}")
}

pub const ORG_SK: &str = "ORG";

pub fn domain_sk(id: &DomainId) -> String {
    format!("DOMAIN#{id}")
}

pub const DOMAIN_SK_PREFIX: &str = "DOMAIN#";

/// A domain's partition in the status index.
pub fn status_list_key(org: &OrgId, status: crate::model::Status) -> String {
    format!("ORG#{org}#STATUS#{status}")
}

/// The key list cursors are sealed with, made once per table.
pub const CURSOR_KEY_PK: &str = "CONFIG#cursor-key";
pub const CONFIG_SK: &str = "CONFIG";

pub fn name_pk(name: &DomainName) -> String {
    format!("NAME#{name}")
}

pub const NAME_SK: &str = "NAME";

pub fn key_pk(key_hash: &str) -> String {
    format!("KEY#{key_hash}")
}

pub const KEY_SK: &str = "KEY";

/// An API key's id, pointing at its hash, so operators revoke by id.
pub fn key_id_pk(id: &str) -> String {
    format!("KEYID#{id}")
}

pub const KEY_ID_SK: &str = "KEYID";

/// The key listed under its organization (id and dates; never the hash).
pub fn org_key_sk(id: &str) -> String {
    format!("{ORG_KEY_SK_PREFIX}{id}")
}

pub const ORG_KEY_SK_PREFIX: &str = "KEY#";

/// A hosted zone's assignment: who may have records written into it.
pub fn zone_pk(zone: &ZoneId) -> String {
    format!("ZONE#{zone}")
}

pub const ZONE_SK: &str = "ZONE";

/// The same assignment under the organization, so its zones are one query away.
pub fn org_zone_sk(zone: &ZoneId) -> String {
    format!("{ORG_ZONE_SK_PREFIX}{zone}")
}

pub const ORG_ZONE_SK_PREFIX: &str = "ZONE#";

/// The index partition of a domain awaiting a check.
pub fn check_shard(id: &DomainId) -> String {
    shard_key(shard_of(id.as_str()))
}

/// A stable spread of keys over the index partitions.
fn shard_of(key: &str) -> u32 {
    let sum: u32 = key.bytes().map(u32::from).sum();
    sum % CHECK_SHARDS
}

/// The index partition of a name's reservation, where the sweep finds those that ran out.
pub fn reservation_shard(name: &DomainName) -> String {
    reservation_shard_key(shard_of(name.as_str()))
}

pub fn reservation_shard_key(shard: u32) -> String {
    format!("RESERVED#{shard}")
}

/// A claim, under its claimant's organization.
pub fn claim_sk(id: &ClaimId) -> String {
    format!("CLAIM#{id}")
}

/// The lifecycle events of a domain name (the outbox), whichever domain holds it: one
/// partition, so one stream shard, keeps a name's events in order across a delete and a
/// re-registration or a claim. Apart from the organizations' partitions, so they outlive
/// the domain's delete and never weigh on its lists.
pub fn events_pk(name: &str) -> String {
    format!("{EVENTS_PK_PREFIX}{name}")
}

pub const EVENTS_PK_PREFIX: &str = "OUTBOX#";

/// Where events were kept per domain id (`EVENTS#<domainId>`, `EVENT#<version>`) before
/// they were kept per name: still read from the stream and marked, never written.
pub const LEGACY_EVENTS_PK_PREFIX: &str = "EVENTS#";

pub fn legacy_events_pk(id: &DomainId) -> String {
    format!("{LEGACY_EVENTS_PK_PREFIX}{id}")
}

pub fn legacy_event_sk(sequence: u64) -> String {
    format!("{EVENT_SK_PREFIX}{sequence:020}")
}

pub const EVENT_SK_PREFIX: &str = "EVENT#";

/// One event, by its domain and the domain version its change produced: two changes can
/// never write the same one.
pub fn event_sk(id: &DomainId, sequence: u64) -> String {
    format!("{EVENT_SK_PREFIX}{id}#{sequence:020}")
}

/// The table's TTL attribute (seconds since the epoch): set on a claim past its expiry and
/// on an outbox item once delivered.
pub const EXPIRES_AT: &str = "ttl";

/// A rate limit's item: `RATE#` leads every such key (the verify functions' IAM policy
/// allows writes under it only).
pub fn rate_pk(subject: &str) -> String {
    format!("RATE#{subject}")
}
pub const RATE_SK: &str = "RATE";

/// An idempotency key's record: `IDEM#` leads every such key (the creating functions' IAM
/// policy allows writes under it), the organization follows, so two organizations' equal
/// keys are two items.
pub fn idempotency_pk(org: &OrgId, key_hash: &str) -> String {
    format!("IDEM#{org}#{key_hash}")
}
pub const IDEMPOTENCY_SK: &str = "IDEM";

pub fn shard_key(shard: u32) -> String {
    format!("CHECK#{shard}")
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("name and type set")
}

fn keys_only_index(name: &str, hash: &str, range: &str) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash))
        .key_schema(key(range, KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .expect("index fully described")
}

/// Creates the table (on-demand billing, the sweep's sparse index, the list indexes, a stream of new images
/// for the event publisher, TTL on [`EXPIRES_AT`]).
pub async fn create_table(client: &Client, table: &str) -> Result<(), aws_sdk_dynamodb::Error> {
    let string_attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("name and type set")
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_attr(PK))
        .attribute_definitions(string_attr(SK))
        .attribute_definitions(string_attr(GSI1_PK))
        .attribute_definitions(string_attr(GSI1_SK))
        .attribute_definitions(string_attr(GSI2_PK))
        .key_schema(key(PK, KeyType::Hash))
        .key_schema(key(SK, KeyType::Range))
        .global_secondary_indexes(keys_only_index(GSI1, GSI1_PK, GSI1_SK))
        .global_secondary_indexes(keys_only_index(GSI2, GSI2_PK, SK))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .expect("stream fully described"),
        )
        .send()
        .await?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(EXPIRES_AT)
                .build()
                .expect("TTL fully described"),
        )
        .send()
        .await?;
    Ok(())
}

/// An organization's webhook endpoints and their count: one partition, so a list is one
/// query and a create checks the count in the same transaction. `WEBHOOK` leads every
/// key of the webhook items (the delivering functions' IAM policy allows writes under it
/// only).
pub fn webhooks_pk(org: &OrgId) -> String {
    format!("WEBHOOKS#{org}")
}
pub fn webhook_sk(id: &WebhookId) -> String {
    format!("{WEBHOOK_SK_PREFIX}{id}")
}
pub const WEBHOOK_SK_PREFIX: &str = "WEBHOOK#";
pub const WEBHOOK_COUNT_SK: &str = "COUNT";
/// An endpoint's deliveries log: one item per attempt, newest last in sort order.
pub fn webhook_log_pk(id: &WebhookId) -> String {
    format!("WEBHOOKLOG#{id}")
}
/// A delivery waiting for its next attempt, one per endpoint and event.
pub fn webhook_due_pk(id: &WebhookId, event_id: &str) -> String {
    format!("{WEBHOOK_DUE_PK_PREFIX}{id}#{event_id}")
}
const WEBHOOK_DUE_PK_PREFIX: &str = "WEBHOOKDUE#";
/// The endpoint a waiting delivery is for, read from its key (all the sparse index holds).
pub fn webhook_of_due_pk(pk: &str) -> Option<WebhookId> {
    let (id, _event) = pk.strip_prefix(WEBHOOK_DUE_PK_PREFIX)?.split_once('#')?;
    WebhookId::parse(id)
}
pub const WEBHOOK_DUE_SK: &str = "DUE";
/// The sparse index partition where due deliveries are found (the sweep's index, another
/// partition prefix).
pub fn webhook_due_shard(id: &WebhookId) -> String {
    webhook_due_shard_key(shard_of(id.as_str()))
}
pub fn webhook_due_shard_key(shard: u32) -> String {
    format!("WEBHOOKDUE#{shard}")
}
