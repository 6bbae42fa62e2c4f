//! Route 53: where the account hosts a domain's zone (or a parent zone), the service can
//! write the domain's records itself, and remove exactly those again.

use async_trait::async_trait;
use aws_sdk_route53::Client;
use aws_sdk_route53::error::ProvideErrorMetadata;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};

use super::DnsZones;
use super::sdk_error::{CloudError, classify, has_code};
use crate::dns::DnsRecord;
use crate::model::{DomainName, ZoneId, ZoneRecord};

const TTL: i64 = 300;

pub struct Route53 {
    client: Client,
}

impl Route53 {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: super::client!(
                aws_sdk_route53,
                aws_sdk_route53::config::Builder::from(config)
            ),
        }
    }

    /// The record set at the record's name and type, if any.
    async fn existing(
        &self,
        zone_id: &str,
        record: &ZoneRecord,
    ) -> Result<Option<ResourceRecordSet>, CloudError> {
        let fqdn = format!("{}.", record.name);
        let out = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .start_record_name(&fqdn)
            .start_record_type(rr_type(record))
            .max_items(1)
            .send()
            .await
            .map_err(|err| classify("Route 53 ListResourceRecordSets", err))?;
        Ok(out
            .resource_record_sets()
            .iter()
            .find(|set| same_name(set.name(), &fqdn) && *set.r#type() == rr_type(record))
            .cloned())
    }

    /// Sends `changes` as one batch; the change's id, or `None` if there was nothing to send.
    async fn change(
        &self,
        zone_id: &str,
        changes: Vec<Change>,
    ) -> Result<Option<String>, CloudError> {
        if changes.is_empty() {
            return Ok(None);
        }
        let batch = ChangeBatch::builder()
            .set_changes(Some(changes))
            .comment("email domains service")
            .build()
            .expect("changes set");
        let result = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.change_info().map(|info| info.id().to_owned())),
            // A change Route 53 refuses is the caller's to know, precisely.
            Err(err) if has_code(&err, &["InvalidChangeBatch", "InvalidInput"]) => {
                let message = err
                    .as_service_error()
                    .and_then(|e| e.message())
                    .unwrap_or("no reason given")
                    .to_owned();
                Err(CloudError::RecordsExist(format!(
                    "Route 53 refused the change: {message}"
                )))
            }
            Err(err) => Err(classify("Route 53 ChangeResourceRecordSets", err)),
        }
    }
}

#[async_trait]
impl DnsZones for Route53 {
    async fn nearest_zones(&self, domain: &DomainName) -> Result<Vec<ZoneId>, CloudError> {
        // The domain itself, then each parent, down to (not including) the top level.
        let labels: Vec<&str> = domain.as_str().split('.').collect();
        for start in 0..labels.len().saturating_sub(1) {
            let candidate = format!("{}.", labels[start..].join("."));
            let out = self
                .client
                .list_hosted_zones_by_name()
                .dns_name(&candidate)
                .max_items(100)
                .send()
                .await
                .map_err(|err| classify("Route 53 ListHostedZonesByName", err))?;
            // The listing starts at the name but goes on to others: only exact matches
            // count, and only public zones answer the world's queries.
            let zones: Vec<ZoneId> = out
                .hosted_zones()
                .iter()
                .filter(|zone| {
                    same_name(zone.name(), &candidate)
                        && !zone.config().is_some_and(|c| c.private_zone())
                })
                .filter_map(|zone| ZoneId::parse(zone.id()))
                .collect();
            if !zones.is_empty() {
                return Ok(zones);
            }
        }
        Ok(Vec::new())
    }

    async fn absent(
        &self,
        zone_id: &str,
        records: &[ZoneRecord],
    ) -> Result<Vec<ZoneRecord>, CloudError> {
        let mut absent = Vec::new();
        let mut taken = Vec::new();
        for record in records {
            match self.existing(zone_id, record).await? {
                None => absent.push(record.clone()),
                // Published already, exactly as we would: nothing to write, and not ours.
                Some(set) if values(&set) == vec![zone_value(record)] => {}
                Some(_) => taken.push(format!("{} {}", record.record_type, record.name)),
            }
        }
        if !taken.is_empty() {
            return Err(CloudError::RecordsExist(format!(
                "the hosted zone already has {} with other values; remove or merge them, or \
                 register without autoConfigureDns and publish the records yourself",
                taken.join(", ")
            )));
        }
        Ok(absent)
    }

    async fn create_records(
        &self,
        zone_id: &str,
        records: &[ZoneRecord],
    ) -> Result<Option<String>, CloudError> {
        let mut taken = Vec::new();
        for record in records {
            if self.existing(zone_id, record).await?.is_some() {
                taken.push(format!("{} {}", record.record_type, record.name));
            }
        }
        if !taken.is_empty() {
            return Err(CloudError::RecordsExist(format!(
                "the hosted zone already has {}; remove or merge them, or register without \
                 autoConfigureDns and publish the records yourself",
                taken.join(", ")
            )));
        }
        let changes = records
            .iter()
            .map(|record| change(ChangeAction::Create, record_set(record, TTL)))
            .collect();
        self.change(zone_id, changes).await
    }

    async fn delete_records(
        &self,
        zone_id: &str,
        records: &[ZoneRecord],
    ) -> Result<(), CloudError> {
        let mut changes = Vec::new();
        for record in records {
            let Some(existing) = self.existing(zone_id, record).await? else {
                continue;
            };
            let ours = record_set(record, existing.ttl().unwrap_or(TTL));
            if values(&existing) == values(&ours) {
                changes.push(change(ChangeAction::Delete, ours));
            }
        }
        self.change(zone_id, changes).await.map(drop)
    }

    async fn change_in_sync(&self, change_id: &str) -> Result<bool, CloudError> {
        // `ChangeInfo` names a change `/change/<id>`; `GetChange` takes the bare id.
        let id = change_id.trim_start_matches("/change/");
        match self.client.get_change().id(id).send().await {
            Ok(out) => Ok(out.change_info().is_some_and(|info| {
                // Route 53 serves a change within about a minute; one still pending long
                // after is no longer followed (the domain's own schedule takes over).
                let submitted = info.submitted_at().secs();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                *info.status() == ChangeStatus::Insync
                    || now - submitted > CHANGE_FOLLOWED_FOR.as_secs() as i64
            })),
            Err(err) if has_code(&err, &["NoSuchChange"]) => Ok(true),
            Err(err) => Err(classify("Route 53 GetChange", err)),
        }
    }
}

/// How long after its submission a change is followed to `INSYNC`.
const CHANGE_FOLLOWED_FOR: std::time::Duration = std::time::Duration::from_secs(10 * 60);

fn values(set: &ResourceRecordSet) -> Vec<String> {
    set.resource_records()
        .iter()
        .map(|r| r.value().to_owned())
        .collect()
}

fn same_name(listed: &str, fqdn: &str) -> bool {
    listed
        .trim_end_matches('.')
        .eq_ignore_ascii_case(fqdn.trim_end_matches('.'))
}

fn rr_type(record: &ZoneRecord) -> RrType {
    RrType::from(record.record_type.as_str())
}

/// The record as Route 53 writes it: TXT values quoted, in character-strings of at most
/// 255 octets (a 2048-bit DKIM key needs two).
pub fn record_value(record: &DnsRecord) -> String {
    zone_value(&record.zone_record())
}

fn zone_value(record: &ZoneRecord) -> String {
    if record.record_type != "TXT" {
        return record.value.clone();
    }
    crate::dns::zonefile::txt_strings(&record.value)
}

fn record_set(record: &ZoneRecord, ttl: i64) -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name(format!("{}.", record.name))
        .r#type(rr_type(record))
        .ttl(ttl)
        .resource_records(
            ResourceRecord::builder()
                .value(zone_value(record))
                .build()
                .expect("value set"),
        )
        .build()
        .expect("name and type set")
}

fn change(action: ChangeAction, set: ResourceRecordSet) -> Change {
    Change::builder()
        .action(action)
        .resource_record_set(set)
        .build()
        .expect("action and record set")
}
