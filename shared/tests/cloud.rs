//! The SES v2 and Route 53 adapters against moto in server mode. The assertions are what
//! SES and Route 53 really do; the adapters never lean on moto's leniencies (it accepts a
//! duplicate identity or record set, and one TXT string over 255 characters).

use aws_sdk_route53::types::{HostedZoneConfig, RrType};
use domains::cloud::CloudError;
use domains::dns::plan::new_setup;
use domains::dns::{DkimKeyPair, records_for};
use domains::model::{Domain, DomainId, Region, Timestamp};
use domains::route53::{DnsZones, Route53, record_value};
use domains::ses::{DOMAIN_TAG, EmailIdentities, IdentitySpec, ORG_TAG, SesV2};
use testkit::{moto, org, pending_domain};

fn unique(label: &str) -> String {
    format!(
        "{label}-{}.example",
        ulid::Ulid::new().to_string().to_lowercase()
    )
}

fn domain(name: &str) -> (Domain, DkimKeyPair) {
    let now = Timestamp::from_unix(1_704_873_600);
    let mut domain = pending_domain("org_a", name, now);
    let (setup, dkim) = new_setup(now);
    domain.setup = setup;
    (domain, dkim)
}

fn spec<'a>(
    domain: &'a Domain,
    dkim: &'a DkimKeyPair,
    org_id: &'a domains::model::OrgId,
    id: &'a DomainId,
) -> IdentitySpec<'a> {
    IdentitySpec {
        region: Region::DEFAULT,
        domain: &domain.name,
        dkim,
        org: org_id,
        domain_id: id,
    }
}

async fn tags_of(name: &str) -> Vec<(String, String)> {
    let client = aws_sdk_sesv2::Client::new(&moto().sdk_config());
    let out = client
        .get_email_identity()
        .email_identity(name)
        .send()
        .await
        .unwrap();
    let mut tags: Vec<(String, String)> = out
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    tags.sort();
    tags
}

#[tokio::test]
async fn identities_are_created_tagged_viewed_and_deleted() {
    let ses = SesV2::new(moto().sdk_config());
    let (domain, dkim) = domain(&unique("ses"));
    let org_a = org("org_a");
    ses.create(&spec(&domain, &dkim, &org_a, &domain.id))
        .await
        .unwrap();

    let mut expected = vec![
        (DOMAIN_TAG.to_owned(), domain.id.to_string()),
        (ORG_TAG.to_owned(), "org_a".to_owned()),
    ];
    expected.sort();
    assert_eq!(tags_of(domain.name.as_str()).await, expected);
    let view = ses
        .view(Region::DEFAULT, &domain.name)
        .await
        .unwrap()
        .unwrap();
    assert!(!view.dkim_status.is_empty());

    ses.delete(Region::DEFAULT, &domain.name).await.unwrap();
    assert_eq!(ses.view(Region::DEFAULT, &domain.name).await.unwrap(), None);
    // Deleting what is gone is fine (a retried delete).
    ses.delete(Region::DEFAULT, &domain.name).await.unwrap();
}

#[tokio::test]
async fn a_leftover_of_the_same_organization_is_replaced_anyone_elses_refused() {
    let ses = SesV2::new(moto().sdk_config());
    let (domain, dkim) = domain(&unique("leftover"));
    let org_a = org("org_a");
    ses.create(&spec(&domain, &dkim, &org_a, &domain.id))
        .await
        .unwrap();

    // The same organization retries with a new domain id: adopted, now tagged with it.
    let retry_id = DomainId::generate();
    ses.create(&spec(&domain, &dkim, &org_a, &retry_id))
        .await
        .unwrap();
    assert!(
        tags_of(domain.name.as_str())
            .await
            .contains(&(DOMAIN_TAG.to_owned(), retry_id.to_string()))
    );

    let org_b = org("org_b");
    let refused = ses
        .create(&spec(&domain, &dkim, &org_b, &DomainId::generate()))
        .await;
    assert!(
        matches!(refused, Err(CloudError::IdentityTaken(_))),
        "{refused:?}"
    );
    assert!(
        tags_of(domain.name.as_str())
            .await
            .contains(&(ORG_TAG.to_owned(), "org_a".to_owned()))
    );
}

async fn create_zone(name: &str, comment: Option<&str>) -> String {
    let client = aws_sdk_route53::Client::new(&moto().sdk_config());
    let mut request = client
        .create_hosted_zone()
        .name(name)
        .caller_reference(ulid::Ulid::new().to_string());
    if let Some(comment) = comment {
        request = request.hosted_zone_config(HostedZoneConfig::builder().comment(comment).build());
    }
    let out = request.send().await.unwrap();
    out.hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned()
}

/// Every record set of the zone as (name, type, values), SOA and NS left out.
async fn zone_records(zone: &str) -> Vec<(String, String, Vec<String>)> {
    let client = aws_sdk_route53::Client::new(&moto().sdk_config());
    let out = client
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .unwrap();
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

#[tokio::test]
async fn zones_are_found_for_the_domain_or_a_parent() {
    let zones = Route53::new(&moto().sdk_config());
    let parent = unique("parent");
    let zone = create_zone(&parent, None).await;
    let (exact, _) = domain(&parent);
    assert_eq!(
        zones.find_zone(&exact.name).await.unwrap(),
        Some(zone.clone())
    );
    let (child, _) = domain(&format!("mail.{parent}"));
    assert_eq!(zones.find_zone(&child.name).await.unwrap(), Some(zone));
    let (elsewhere, _) = domain(&unique("nozone"));
    assert_eq!(zones.find_zone(&elsewhere.name).await.unwrap(), None);
}

#[tokio::test]
async fn records_are_written_as_published_and_removed_exactly() {
    let zones = Route53::new(&moto().sdk_config());
    let name = unique("records");
    let zone = create_zone(&name, None).await;
    // Someone else's records in the zone, which must survive.
    let client = aws_sdk_route53::Client::new(&moto().sdk_config());
    let www = aws_sdk_route53::types::ResourceRecordSet::builder()
        .name(format!("www.{name}."))
        .r#type(RrType::A)
        .ttl(60)
        .resource_records(
            aws_sdk_route53::types::ResourceRecord::builder()
                .value("192.0.2.1")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    client
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(
            aws_sdk_route53::types::ChangeBatch::builder()
                .changes(
                    aws_sdk_route53::types::Change::builder()
                        .action(aws_sdk_route53::types::ChangeAction::Create)
                        .resource_record_set(www)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let before = zone_records(&zone).await;

    let (domain, _) = domain(&name);
    let records = records_for(&domain);
    zones.create_records(&zone, &records).await.unwrap();
    let written = zone_records(&zone).await;
    for record in &records {
        let value = record_value(record);
        assert!(
            written.iter().any(|(n, t, v)| n == &record.name
                && t == record.record_type
                && v == &vec![value.clone()]),
            "{} {} missing from {written:?}",
            record.record_type,
            record.name
        );
        // Each quoted character-string fits DNS's 255 octets.
        for part in value.split("\" \"") {
            assert!(part.trim_matches('"').len() <= 255, "{part}");
        }
    }
    let dkim = records
        .iter()
        .find(|r| r.host.ends_with("._domainkey"))
        .unwrap();
    assert_eq!(
        record_value(dkim).matches("\" \"").count(),
        1,
        "a 2048-bit key is two strings"
    );

    // Writing again is refused (Route 53 refuses to CREATE what exists), nothing changes.
    let again = zones.create_records(&zone, &records).await;
    assert!(
        matches!(again, Err(CloudError::RecordsExist(_))),
        "{again:?}"
    );
    assert_eq!(zone_records(&zone).await, written);

    zones.delete_records(&zone, &records).await.unwrap();
    assert_eq!(zone_records(&zone).await, before, "exactly ours removed");
    zones.delete_records(&zone, &records).await.unwrap();
}
