//! The SES v2 and Route 53 adapters against moto in server mode. The assertions are what
//! SES and Route 53 really do; the adapters never lean on moto's leniencies (it accepts a
//! duplicate identity or record set, and one TXT string over 255 characters).

use aws_sdk_route53::types::RrType;
use domains::aws::CloudError;
use domains::aws::{DOMAIN_TAG, EmailIdentities, IdentitySpec, ORG_TAG, SesV2};
use domains::aws::{DnsZones, Route53, record_value};
use domains::dns::plan::new_setup;
use domains::dns::{DkimKeyPair, DnsRecord, records_for};
use domains::model::{Domain, DomainId, Region, Timestamp, ZoneId, ZoneRecord};
use testkit::aws::{create_zone, identity_tags, put_record, unique_domain, zone_records};
use testkit::{moto, org, pending_domain};

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
        mail_from: Some(domain.name.child("send")),
    }
}

#[tokio::test]
async fn identities_are_created_tagged_viewed_and_deleted() {
    let ses = SesV2::new(moto().sdk_config());
    let (domain, dkim) = domain(&unique_domain("ses"));
    let org_a = org("org_a");
    ses.create(&spec(&domain, &dkim, &org_a, &domain.id))
        .await
        .unwrap();

    let mut expected = vec![
        (DOMAIN_TAG.to_owned(), domain.id.to_string()),
        (ORG_TAG.to_owned(), "org_a".to_owned()),
    ];
    expected.sort();
    assert_eq!(identity_tags(domain.name.as_str()).await.unwrap(), expected);
    let view = ses
        .view(Region::DEFAULT, &domain.name)
        .await
        .unwrap()
        .unwrap();
    assert!(!view.dkim_status.is_empty());
    // The custom MAIL FROM domain is set; SES calls it pending until it sees the MX.
    assert_eq!(view.mail_from_status.as_deref(), Some("PENDING"));

    ses.delete(Region::DEFAULT, &domain.name, &domain.id)
        .await
        .unwrap();
    assert_eq!(ses.view(Region::DEFAULT, &domain.name).await.unwrap(), None);
    // Deleting what is gone is fine (a retried delete).
    ses.delete(Region::DEFAULT, &domain.name, &domain.id)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_leftover_of_the_same_registration_is_replaced_anyone_elses_refused() {
    let ses = SesV2::new(moto().sdk_config());
    let (domain, dkim) = domain(&unique_domain("leftover"));
    let org_a = org("org_a");
    ses.create(&spec(&domain, &dkim, &org_a, &domain.id))
        .await
        .unwrap();

    // An attempt of the same registration that did not finish: replaced.
    ses.create(&spec(&domain, &dkim, &org_a, &domain.id))
        .await
        .unwrap();
    assert!(
        identity_tags(domain.name.as_str())
            .await
            .unwrap()
            .contains(&(DOMAIN_TAG.to_owned(), domain.id.to_string()))
    );
    // Another domain of the same organization (a newer registration of the name) neither
    // takes it over nor removes it: the organization's tag proves nothing about which
    // domain it is.
    let other_id = DomainId::generate();
    let taken = ses.create(&spec(&domain, &dkim, &org_a, &other_id)).await;
    assert!(
        matches!(taken, Err(CloudError::IdentityTaken(_))),
        "{taken:?}"
    );
    ses.delete(Region::DEFAULT, &domain.name, &other_id)
        .await
        .unwrap();
    assert!(
        identity_tags(domain.name.as_str())
            .await
            .unwrap()
            .contains(&(DOMAIN_TAG.to_owned(), domain.id.to_string()))
    );

    let org_b = org("org_b");
    let refused = ses
        .create(&spec(&domain, &dkim, &org_b, &DomainId::generate()))
        .await;
    // Nor can the other organization delete it.
    ses.delete(Region::DEFAULT, &domain.name, &DomainId::generate())
        .await
        .unwrap();
    assert!(identity_tags(domain.name.as_str()).await.is_some());
    assert!(
        matches!(refused, Err(CloudError::IdentityTaken(_))),
        "{refused:?}"
    );
    assert!(
        identity_tags(domain.name.as_str())
            .await
            .unwrap()
            .contains(&(ORG_TAG.to_owned(), "org_a".to_owned()))
    );
}

#[tokio::test]
async fn the_nearest_zones_are_found_for_the_domain_or_a_parent() {
    let zones = Route53::new(&moto().sdk_config());
    let parent = unique_domain("parent");
    let zone = ZoneId::parse(&create_zone(&parent, None).await).unwrap();
    let (exact, _) = domain(&parent);
    assert_eq!(
        zones.nearest_zones(&exact.name).await.unwrap(),
        vec![zone.clone()]
    );
    let (child, _) = domain(&format!("mail.{parent}"));
    assert_eq!(
        zones.nearest_zones(&child.name).await.unwrap(),
        vec![zone.clone()]
    );
    let (elsewhere, _) = domain(&unique_domain("nozone"));
    assert_eq!(zones.nearest_zones(&elsewhere.name).await.unwrap(), vec![]);

    // A zone of its own below the parent serves the name: the parent zone is not offered.
    let delegated = format!("shop.{parent}");
    let own = ZoneId::parse(&create_zone(&delegated, None).await).unwrap();
    let (deep, _) = domain(&format!("mail.{delegated}"));
    assert_eq!(zones.nearest_zones(&deep.name).await.unwrap(), vec![own]);

    // Route 53 allows two zones of one name: both are candidates.
    let twin = ZoneId::parse(&create_zone(&parent, None).await).unwrap();
    let mut found = zones.nearest_zones(&exact.name).await.unwrap();
    found.sort();
    let mut expected = vec![zone, twin];
    expected.sort();
    assert_eq!(found, expected);
}

#[tokio::test]
async fn records_are_written_as_published_and_removed_exactly() {
    let zones = Route53::new(&moto().sdk_config());
    let name = unique_domain("records");
    let zone = create_zone(&name, None).await;
    // Someone else's record in the zone, which must survive.
    put_record(&zone, &format!("www.{name}"), RrType::A, "192.0.2.1").await;
    let before = zone_records(&zone).await;

    let (domain, _) = domain(&name);
    let records = records_for(&domain);
    let records_written: Vec<ZoneRecord> = records.iter().map(DnsRecord::zone_record).collect();
    zones.create_records(&zone, &records_written).await.unwrap();
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
    let again = zones.create_records(&zone, &records_written).await;
    assert!(
        matches!(again, Err(CloudError::RecordsExist(_))),
        "{again:?}"
    );
    assert_eq!(zone_records(&zone).await, written);

    zones.delete_records(&zone, &records_written).await.unwrap();
    assert_eq!(zone_records(&zone).await, before, "exactly ours removed");
    zones.delete_records(&zone, &records_written).await.unwrap();
}
