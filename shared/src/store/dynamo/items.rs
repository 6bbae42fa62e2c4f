//! The items as the table stores them, and back: domains, names (claimed or reserved),
//! claims, and the attribute helpers every item shares.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::Item;
use crate::model::{
    Claim, ClaimId, Counter, Counters, Domain, DomainId, DomainName, DomainState, MailFrom, OrgId,
    Region, Status, Timestamp, VerificationSetup,
};
use crate::store::schema::{
    EXPIRES_AT, GSI1_PK, GSI1_SK, GSI2_PK, NAME_SK, PK, SK, check_shard, claim_sk, domain_sk,
    name_pk, org_pk, reservation_shard, status_list_key,
};
use crate::store::{NameHolder, Reservation, StoreError, effects};

/// A name is free for a domain when nobody holds it or the domain itself does. A
/// reservation that ran out is not free: its effects are undone first.
pub(super) const NAME_FREE: &str = "attribute_not_exists(#pk) OR #domainId = :id";

/// Set on a name's item while it is only reserved.
pub(super) const PROVISIONAL_UNTIL: &str = "provisionalUntil";

pub(super) fn name_free_names() -> HashMap<String, String> {
    HashMap::from([
        ("#pk".into(), PK.into()),
        ("#domainId".into(), "domainId".into()),
    ])
}

pub(super) fn name_free_values(id: &DomainId) -> Item {
    HashMap::from([(":id".into(), s(id.as_str()))])
}

pub(super) fn name_item(name: &DomainName, org: &OrgId, id: &DomainId) -> Item {
    HashMap::from([
        (PK.into(), s(name_pk(name))),
        (SK.into(), s(NAME_SK)),
        ("orgId".into(), s(org.as_str())),
        ("domainId".into(), s(id.as_str())),
    ])
}

/// A reservation: the name's item with its deadline and effects, in the index the sweep
/// reads to find registrations that died.
pub(super) fn reservation_item(reservation: &Reservation) -> Item {
    let mut item = name_item(&reservation.name, &reservation.org, &reservation.domain_id);
    let until = reservation.until.to_string();
    item.insert(PROVISIONAL_UNTIL.into(), s(until.clone()));
    item.insert(
        "leftovers".into(),
        s(effects::encode(&reservation.leftovers)),
    );
    item.insert("effects".into(), s(effects::encode(&reservation.effects)));
    item.insert(GSI1_PK.into(), s(reservation_shard(&reservation.name)));
    item.insert(GSI1_SK.into(), s(until));
    item
}

pub(super) fn parse_holder(name: &DomainName, item: &Item) -> Result<NameHolder, StoreError> {
    let org = parse_with(item, "orgId", OrgId::parse)?;
    let id = parse_with(item, "domainId", DomainId::parse)?;
    let Some(until) = opt_time(item, PROVISIONAL_UNTIL)? else {
        return Ok(NameHolder::Domain { org, id });
    };
    let effects_of = |attribute: &str, owner: Option<&DomainId>| {
        effects::decode(&opt_str(item, attribute).unwrap_or_default(), owner)
            .ok_or_else(|| corrupt(attribute))
    };
    Ok(NameHolder::Reservation(Reservation {
        name: name.clone(),
        org,
        until,
        leftovers: effects_of("leftovers", None)?,
        effects: effects_of("effects", Some(&id))?,
        domain_id: id,
    }))
}

/// Claims stay readable for a week after they expire, then the table's TTL removes them.
const CLAIM_KEPT: time::Duration = time::Duration::days(7);

pub(super) fn claim_item(claim: &Claim) -> Item {
    let mut item: Item = HashMap::from([
        (PK.into(), s(org_pk(&claim.org_id))),
        (SK.into(), s(claim_sk(&claim.id))),
        ("claimId".into(), s(claim.id.as_str())),
        ("orgId".into(), s(claim.org_id.as_str())),
        ("domain".into(), s(claim.name.as_str())),
        ("region".into(), s(claim.region.as_str())),
        ("token".into(), s(claim.token.clone())),
        ("createdAt".into(), s(claim.created_at.to_string())),
        ("expiresAt".into(), s(claim.expires_at.to_string())),
        (
            EXPIRES_AT.into(),
            n(claim
                .expires_at
                .plus(CLAIM_KEPT)
                .datetime()
                .unix_timestamp()),
        ),
    ]);
    if let Some(id) = &claim.domain_id {
        item.insert("domainId".into(), s(id.as_str()));
    }
    if let Some(at) = claim.completed_at {
        item.insert("completedAt".into(), s(at.to_string()));
    }
    item
}

pub(super) fn parse_claim(item: &Item) -> Result<Claim, StoreError> {
    Ok(Claim {
        id: parse_with(item, "claimId", ClaimId::parse)?,
        org_id: parse_with(item, "orgId", OrgId::parse)?,
        name: parse_with(item, "domain", DomainName::from_stored)?,
        region: parse_with(item, "region", Region::parse)?,
        token: opt_str(item, "token").ok_or_else(|| corrupt("token"))?,
        created_at: opt_time(item, "createdAt")?.ok_or_else(|| corrupt("createdAt"))?,
        expires_at: opt_time(item, "expiresAt")?.ok_or_else(|| corrupt("expiresAt"))?,
        domain_id: opt_str(item, "domainId")
            .map(|id| DomainId::parse(&id).ok_or_else(|| corrupt("domainId")))
            .transpose()?,
        completed_at: opt_time(item, "completedAt")?,
    })
}

pub(super) fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

pub(super) fn n(number: impl ToString) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

/// A domain's key in the table.
pub(super) fn domain_key(org: &OrgId, id: &DomainId) -> Item {
    HashMap::from([
        (PK.to_owned(), s(org_pk(org))),
        (SK.to_owned(), s(domain_sk(id))),
    ])
}

/// A domain as the table stores it, with its index keys: for bulk loads (benchmarks,
/// imports), which write it with `BatchWriteItem` and then repair the organization's
/// counters with [`OrgStore::recount`](crate::store::OrgStore::recount).
pub fn domain_item(domain: &Domain) -> Item {
    let mut item: Item = HashMap::from([
        (PK.into(), s(org_pk(&domain.org_id))),
        (SK.into(), s(domain_sk(&domain.id))),
        ("id".into(), s(domain.id.as_str())),
        ("orgId".into(), s(domain.org_id.as_str())),
        ("domain".into(), s(domain.name.as_str())),
        ("region".into(), s(domain.region.as_str())),
        ("ownershipToken".into(), s(&domain.setup.ownership_token)),
        ("createdAt".into(), s(domain.created_at.to_string())),
        ("updatedAt".into(), s(domain.updated_at.to_string())),
        ("version".into(), n(domain.version)),
    ]);
    for counter in [Counter::Inbox, Counter::Sent, Counter::Received] {
        item.insert(counter.attribute().into(), n(domain.counters.get(counter)));
    }
    if let Some(zone) = &domain.hosted_zone_id {
        item.insert("hostedZoneId".into(), s(zone));
    }
    if let Some(mail_from) = &domain.setup.mail_from {
        item.insert("mailFrom".into(), s(mail_from.as_str()));
    }
    for (attribute, value) in state_attributes(domain)
        .into_iter()
        .chain(dkim_attributes(&domain.setup))
    {
        if let Some(value) = value {
            item.insert(attribute.into(), value);
        }
    }
    item
}

/// The attributes a DKIM rotation rewrites; `None` means "remove".
pub(super) fn dkim_attributes(
    setup: &VerificationSetup,
) -> Vec<(&'static str, Option<AttributeValue>)> {
    vec![
        ("dkimSelector", Some(s(&setup.dkim_selector))),
        ("dkimPublicKey", Some(s(&setup.dkim_public_key))),
        ("dkimNext", setup.dkim_next.as_ref().map(json)),
        ("dkimRetired", setup.dkim_retired.as_ref().map(json)),
        ("zoneRecords", setup.zone_records.as_ref().map(json)),
    ]
}

/// A value stored as one JSON string attribute.
pub(super) fn json<T: serde::Serialize>(value: &T) -> AttributeValue {
    s(serde_json::to_string(value).expect("stored values serialize"))
}

/// The attributes a state change rewrites; `None` means "remove". A domain awaiting a
/// check carries the sweep index keys, any other does not (the index is sparse).
pub(super) fn state_attributes(domain: &Domain) -> Vec<(&'static str, Option<AttributeValue>)> {
    let state = &domain.state;
    let time = |t: Option<Timestamp>| t.map(|t| s(t.to_string()));
    vec![
        ("status", Some(s(state.status.as_str()))),
        (
            GSI2_PK,
            Some(s(status_list_key(&domain.org_id, state.status))),
        ),
        ("verifiedAt", time(state.verified_at)),
        ("lastCheckedAt", time(state.last_checked_at)),
        ("pendingSince", time(state.pending_since)),
        ("nextCheckAt", time(state.next_check_at)),
        ("failedChecks", Some(n(state.failed_checks))),
        ("failureReason", state.failure_reason.clone().map(s)),
        ("degradedSince", time(state.degraded_since)),
        ("lastCheck", state.last_check.as_ref().map(json)),
        ("zoneChange", state.zone_change.clone().map(s)),
        (
            GSI1_PK,
            state.next_check_at.map(|_| s(check_shard(&domain.id))),
        ),
        (GSI1_SK, time(state.next_check_at)),
    ]
}

pub(super) fn opt_str(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

pub(super) fn opt_num(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

pub(super) fn corrupt(name: &str) -> StoreError {
    StoreError::Internal(format!("stored item has a missing or malformed '{name}'"))
}

pub(super) fn parse_with<T>(
    item: &Item,
    name: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .and_then(|v| parse(v))
        .ok_or_else(|| corrupt(name))
}

pub(super) fn opt_time(item: &Item, name: &str) -> Result<Option<Timestamp>, StoreError> {
    match item.get(name) {
        None => Ok(None),
        Some(_) => parse_with(item, name, |t| Timestamp::parse(t).ok()).map(Some),
    }
}

/// An optional attribute [`json`] wrote.
pub(super) fn opt_json<T: serde::de::DeserializeOwned>(
    item: &Item,
    name: &str,
) -> Result<Option<T>, StoreError> {
    match item.get(name) {
        None => Ok(None),
        Some(_) => parse_with(item, name, |t| serde_json::from_str(t).ok()).map(Some),
    }
}

pub(super) fn parse_domain(item: &Item) -> Result<Domain, StoreError> {
    let text = |name: &str| parse_with(item, name, |t| Some(t.to_owned()));
    let time = |name: &str| parse_with(item, name, |t| Timestamp::parse(t).ok());
    let count = |counter: Counter| opt_num(item, counter.attribute()).unwrap_or(0);
    Ok(Domain {
        id: parse_with(item, "id", DomainId::parse)?,
        org_id: parse_with(item, "orgId", OrgId::parse)?,
        name: parse_with(item, "domain", DomainName::from_stored)?,
        region: parse_with(item, "region", Region::parse)?,
        setup: VerificationSetup {
            ownership_token: text("ownershipToken")?,
            dkim_selector: text("dkimSelector")?,
            dkim_public_key: text("dkimPublicKey")?,
            mail_from: match item.get("mailFrom") {
                None => None,
                Some(_) => Some(parse_with(item, "mailFrom", |t| MailFrom::parse(t).ok())?),
            },
            dkim_next: opt_json(item, "dkimNext")?,
            dkim_retired: opt_json(item, "dkimRetired")?,
            zone_records: opt_json(item, "zoneRecords")?,
        },
        state: DomainState {
            status: parse_with(item, "status", |t| t.parse::<Status>().ok())?,
            verified_at: opt_time(item, "verifiedAt")?,
            last_checked_at: opt_time(item, "lastCheckedAt")?,
            pending_since: opt_time(item, "pendingSince")?,
            next_check_at: opt_time(item, "nextCheckAt")?,
            failed_checks: opt_num(item, "failedChecks")
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            failure_reason: opt_str(item, "failureReason"),
            degraded_since: opt_time(item, "degradedSince")?,
            last_check: opt_json(item, "lastCheck")?,
            zone_change: opt_str(item, "zoneChange"),
        },
        counters: Counters {
            inbox_count: count(Counter::Inbox),
            sent_count: count(Counter::Sent),
            received_count: count(Counter::Received),
        },
        is_default: false,
        created_at: time("createdAt")?,
        updated_at: time("updatedAt")?,
        version: opt_num(item, "version")
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| corrupt("version"))?,
        hosted_zone_id: opt_str(item, "hostedZoneId"),
        deleting_since: opt_time(item, "deletingSince")?,
    })
}
