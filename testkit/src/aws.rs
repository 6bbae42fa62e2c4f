//! Looking at (and arranging) what the tests' moto server holds, the way a person would
//! with the AWS console.

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HostedZoneConfig, ResourceRecord, ResourceRecordSet, RrType,
};

use std::sync::Arc;

use domains::aws::Cloud;
use domains::aws::Kms;
use domains::aws::Route53;
use domains::aws::SesV2;

use crate::moto;

/// A domain name no other test uses.
pub fn unique_domain(label: &str) -> String {
    format!(
        "{label}-{}.example",
        ulid::Ulid::new().to_string().to_lowercase()
    )
}

/// SES v2, Route 53 and KMS, all on the tests' moto server.
pub fn moto_cloud() -> Cloud {
    let config = moto().sdk_config();
    Cloud {
        ses: Some(Arc::new(SesV2::new(config.clone()))),
        zones: Some(Arc::new(Route53::new(&config))),
        sealer: Some(Arc::new(Kms::new(&config, moto().kms_key.clone()))),
    }
}

fn route53() -> aws_sdk_route53::Client {
    aws_sdk_route53::Client::new(&moto().sdk_config())
}

/// A public hosted zone; its id without the `/hostedzone/` prefix.
pub async fn create_zone(name: &str, comment: Option<&str>) -> String {
    let mut request = route53()
        .create_hosted_zone()
        .name(name)
        .caller_reference(ulid::Ulid::new().to_string());
    if let Some(comment) = comment {
        request = request.hosted_zone_config(HostedZoneConfig::builder().comment(comment).build());
    }
    let out = request.send().await.expect("create hosted zone");
    let zone = out.hosted_zone().expect("a hosted zone");
    zone.id().trim_start_matches("/hostedzone/").to_owned()
}

pub async fn delete_zone(zone: &str) {
    route53()
        .delete_hosted_zone()
        .id(zone)
        .send()
        .await
        .expect("delete hosted zone");
}

/// A record set someone else put in the zone.
pub async fn put_record(zone: &str, name: &str, record_type: RrType, value: &str) {
    change_record(zone, ChangeAction::Create, name, record_type, value).await;
}

/// Removes a record set from the zone by hand, as someone with console access would.
pub async fn delete_record(zone: &str, name: &str, record_type: RrType, value: &str) {
    change_record(zone, ChangeAction::Delete, name, record_type, value).await;
}

async fn change_record(
    zone: &str,
    action: ChangeAction,
    name: &str,
    record_type: RrType,
    value: &str,
) {
    let set = ResourceRecordSet::builder()
        .name(format!("{name}."))
        .r#type(record_type)
        .ttl(300)
        .resource_records(ResourceRecord::builder().value(value).build().unwrap())
        .build()
        .unwrap();
    let change = Change::builder()
        .action(action)
        .resource_record_set(set)
        .build()
        .unwrap();
    route53()
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
        .send()
        .await
        .expect("change record set");
}

/// (name, type, values) of every record set in the zone but its SOA and NS, sorted.
pub async fn zone_records(zone: &str) -> Vec<(String, String, Vec<String>)> {
    let out = route53()
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .expect("list record sets");
    let mut sets: Vec<_> = out
        .resource_record_sets()
        .iter()
        .filter(|s| !matches!(s.r#type(), RrType::Soa | RrType::Ns))
        .map(|s| {
            (
                s.name().trim_end_matches('.').to_owned(),
                s.r#type().as_str().to_owned(),
                s.resource_records()
                    .iter()
                    .map(|r| r.value().to_owned())
                    .collect(),
            )
        })
        .collect();
    sets.sort();
    sets
}

/// The tags of the SES identity for `domain` (region us-east-1), or `None` if there is none.
pub async fn identity_tags(domain: &str) -> Option<Vec<(String, String)>> {
    identity_tags_in("us-east-1", domain).await
}

/// The MAIL FROM domain and its status that SES (us-east-1) holds for `domain`'s identity.
pub async fn identity_mail_from(domain: &str) -> Option<(String, String)> {
    let out = identity("us-east-1", domain).await?;
    let attributes = out.mail_from_attributes()?;
    Some((
        attributes.mail_from_domain().to_owned(),
        attributes.mail_from_domain_status().as_str().to_owned(),
    ))
}

/// The selector of the key SES (us-east-1) signs `domain`'s mail with, and SES's DKIM
/// status, for an identity with a key of ours (BYODKIM).
pub async fn identity_dkim(domain: &str) -> Option<(String, String)> {
    let out = identity("us-east-1", domain).await?;
    let dkim = out.dkim_attributes()?;
    Some((
        dkim.tokens().first()?.clone(),
        dkim.status()?.as_str().to_owned(),
    ))
}

/// As [`identity_tags`], in `region`.
pub async fn identity_tags_in(region: &str, domain: &str) -> Option<Vec<(String, String)>> {
    let out = identity(region, domain).await?;
    let mut tags: Vec<(String, String)> = out
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    tags.sort();
    Some(tags)
}

/// moto's SES identity for `domain` in `region`, or `None` if there is none.
async fn identity(
    region: &str,
    domain: &str,
) -> Option<aws_sdk_sesv2::operation::get_email_identity::GetEmailIdentityOutput> {
    let config = moto()
        .sdk_config()
        .into_builder()
        .region(aws_config::Region::new(region.to_owned()))
        .build();
    aws_sdk_sesv2::Client::new(&config)
        .get_email_identity()
        .email_identity(domain)
        .send()
        .await
        .ok()
}
