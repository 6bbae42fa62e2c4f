//! [`NameStore`] on the table: a name's item (`NAME#<domain>`), claimed for good or
//! reserved with a deadline in the sweep's index, and its handover to a claimant.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};

use super::items::{
    NAME_FREE, PROVISIONAL_UNTIL, n, name_free_names, name_free_values, opt_str, parse_holder,
    reservation_item, s,
};
use super::org_item::DefaultChange;
use super::{DynamoStore, classify, conflict_unless_met, is_condition_failure};
use crate::model::event::{LifecycleEvent, Removal};
use crate::model::{Domain, DomainName, Timestamp};
use crate::store::schema::{
    CHECK_SHARDS, GSI1_SK, NAME_SK, PK, SK, domain_sk, name_pk, org_pk, reservation_shard_key,
};
use crate::store::{Effect, NameHolder, NameStore, Reservation, StoreError, effects};

impl DynamoStore {
    /// An update of `reservation`'s name item that lands only while the item is still that
    /// reservation (its domain id and deadline as read): the caller adds what it sets.
    fn own_reservation_update(
        &self,
        reservation: &Reservation,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(name_pk(&reservation.name)))
            .key(SK, s(NAME_SK))
            .condition_expression("#domainId = :id AND #until = :read")
            .expression_attribute_names("#until", PROVISIONAL_UNTIL)
            .expression_attribute_names("#domainId", "domainId")
            .expression_attribute_values(":read", s(reservation.until.to_string()))
            .expression_attribute_values(":id", s(reservation.domain_id.as_str()))
    }
}

#[async_trait]
impl NameStore for DynamoStore {
    async fn reserve_name(&self, reservation: &Reservation) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(reservation_item(reservation)))
            .condition_expression(NAME_FREE)
            .set_expression_attribute_names(Some(name_free_names()))
            .set_expression_attribute_values(Some(name_free_values(&reservation.domain_id)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => {
                Err(StoreError::NameTaken(reservation.name.to_string()))
            }
            Err(err) => Err(classify(err)),
        }
    }

    async fn name_holder(&self, name: &DomainName) -> Result<Option<NameHolder>, StoreError> {
        self.get_item(name_pk(name), NAME_SK)
            .await?
            .map(|item| parse_holder(name, &item))
            .transpose()
    }

    async fn retime_reservation(
        &self,
        reservation: &Reservation,
        until: Timestamp,
    ) -> Result<(), StoreError> {
        let result = self
            .own_reservation_update(reservation)
            .update_expression("SET #until = :until, #due = :until")
            .expression_attribute_names("#due", GSI1_SK)
            .expression_attribute_values(":until", s(until.to_string()))
            .send()
            .await;
        conflict_unless_met(result)
    }

    async fn record_effects(
        &self,
        reservation: &Reservation,
        effects: &[Effect],
    ) -> Result<(), StoreError> {
        let result = self
            .own_reservation_update(reservation)
            .update_expression("SET #effects = :effects")
            .expression_attribute_names("#effects", "effects")
            .expression_attribute_values(":effects", s(effects::encode(effects)))
            .send()
            .await;
        conflict_unless_met(result)
    }

    async fn expired_reservations(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DomainName>, StoreError> {
        let mut names = Vec::new();
        for shard in 0..CHECK_SHARDS {
            let page = self
                .index_until(reservation_shard_key(shard), "<", now)
                .limit(i32::try_from(limit).unwrap_or(i32::MAX).max(1))
                .send()
                .await
                .map_err(classify)?;
            names.extend(page.items().iter().filter_map(|item| {
                let pk = opt_str(item, PK)?;
                DomainName::from_stored(pk.strip_prefix("NAME#")?)
            }));
        }
        names.truncate(limit);
        Ok(names)
    }

    async fn release_name(&self, reservation: &Reservation) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(name_pk(&reservation.name)))
            .key(SK, s(NAME_SK))
            // Only this reservation as read: never the name of a registered domain, nor
            // the reservation once someone took it over to undo it.
            .condition_expression("#domainId = :id AND #until = :until")
            .expression_attribute_names("#domainId", "domainId")
            .expression_attribute_names("#until", PROVISIONAL_UNTIL)
            .expression_attribute_values(":id", s(reservation.domain_id.as_str()))
            .expression_attribute_values(":until", s(reservation.until.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(classify(err)),
        }
    }

    async fn transfer_name(
        &self,
        holder: &Domain,
        reservation: &Reservation,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let delete_holder = Delete::builder()
            .table_name(&self.table)
            .key(PK, s(org_pk(&holder.org_id)))
            .key(SK, s(domain_sk(&holder.id)))
            .condition_expression("#version = :version")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":version", n(holder.version))
            .build()
            .expect("table, key and condition set");
        let take_name = Put::builder()
            .table_name(&self.table)
            .set_item(Some(reservation_item(reservation)))
            .condition_expression("#domainId = :holder AND attribute_not_exists(#until)")
            .expression_attribute_names("#domainId", "domainId")
            .expression_attribute_names("#until", PROVISIONAL_UNTIL)
            .expression_attribute_values(":holder", s(holder.id.as_str()))
            .build()
            .expect("table, item and condition set");
        self.transact(vec![
            TransactWriteItem::builder().delete(delete_holder).build(),
            TransactWriteItem::builder().put(take_name).build(),
            self.org_update(
                &holder.org_id,
                DefaultChange::leaving(holder),
                -1,
                &[(holder.state.status, -1)],
            ),
            self.put_event(&LifecycleEvent::deleted(holder, Removal::Claimed, at)),
        ])
        .await
    }
}
