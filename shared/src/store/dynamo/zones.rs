//! [`ZoneStore`] on the table: a zone's assignment (`ZONE#<zoneId>`) and its listing
//! under the organization, written together.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};

use super::DynamoStore;
use super::items::{opt_str, parse_with, s};
use crate::model::{OrgId, Timestamp, ZoneId};
use crate::store::schema::{ORG_ZONE_SK_PREFIX, PK, SK, ZONE_SK, org_pk, org_zone_sk, zone_pk};
use crate::store::{StoreError, ZoneStore};

#[async_trait]
impl ZoneStore for DynamoStore {
    async fn assign_zone(
        &self,
        zone: &ZoneId,
        org: &OrgId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let assignment = Put::builder()
            .table_name(&self.table)
            .set_item(Some(HashMap::from([
                (PK.into(), s(zone_pk(zone))),
                (SK.into(), s(ZONE_SK)),
                ("orgId".into(), s(org.as_str())),
                ("assignedAt".into(), s(at.to_string())),
            ])))
            .condition_expression("attribute_not_exists(#pk) OR #org = :org")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#org", "orgId")
            .expression_attribute_values(":org", s(org.as_str()))
            .build()
            .expect("table and item set");
        let listed = Put::builder()
            .table_name(&self.table)
            .set_item(Some(HashMap::from([
                (PK.into(), s(org_pk(org))),
                (SK.into(), s(org_zone_sk(zone))),
                ("assignedAt".into(), s(at.to_string())),
            ])))
            .build()
            .expect("table and item set");
        self.transact(vec![
            TransactWriteItem::builder().put(assignment).build(),
            TransactWriteItem::builder().put(listed).build(),
        ])
        .await
    }

    async fn unassign_zone(&self, zone: &ZoneId) -> Result<OrgId, StoreError> {
        let item = self
            .get_item(zone_pk(zone), ZONE_SK)
            .await?
            .ok_or(StoreError::NotFound)?;
        let org = parse_with(&item, "orgId", OrgId::parse)?;
        let assignment = Delete::builder()
            .table_name(&self.table)
            .key(PK, s(zone_pk(zone)))
            .key(SK, s(ZONE_SK))
            .condition_expression("#org = :org")
            .expression_attribute_names("#org", "orgId")
            .expression_attribute_values(":org", s(org.as_str()))
            .build()
            .expect("table and key set");
        let listed = Delete::builder()
            .table_name(&self.table)
            .key(PK, s(org_pk(&org)))
            .key(SK, s(org_zone_sk(zone)))
            .build()
            .expect("table and key set");
        self.transact(vec![
            TransactWriteItem::builder().delete(assignment).build(),
            TransactWriteItem::builder().delete(listed).build(),
        ])
        .await?;
        Ok(org)
    }

    async fn zone_owner(&self, zone: &ZoneId) -> Result<Option<OrgId>, StoreError> {
        self.get_item(zone_pk(zone), ZONE_SK)
            .await?
            .map(|item| parse_with(&item, "orgId", OrgId::parse))
            .transpose()
    }

    async fn zones_of(&self, org: &OrgId) -> Result<Vec<ZoneId>, StoreError> {
        let items = self.items_under(org_pk(org), ORG_ZONE_SK_PREFIX).await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                opt_str(item, SK)?
                    .strip_prefix(ORG_ZONE_SK_PREFIX)
                    .and_then(ZoneId::parse)
            })
            .collect())
    }
}
