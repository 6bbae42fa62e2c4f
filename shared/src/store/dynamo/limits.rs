//! [`LimitStore`] on the table: one `RATE#…` item per limit holding its state, read
//! consistently and written in one transaction whose every item is conditional on the state
//! read, so instances sharing the table never admit more than the limit between them.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use super::DynamoStore;
use super::items::{n, s};
use crate::store::schema::{EXPIRES_AT, PK, RATE_SK, SK};
use crate::store::{LimitStore, LimitUpdate, StoreError};

/// The attribute holding a limit's state.
const STATE: &str = "tat";

#[async_trait]
impl LimitStore for DynamoStore {
    async fn limit_states(&self, keys: &[String]) -> Result<Vec<Option<i64>>, StoreError> {
        let mut states = Vec::with_capacity(keys.len());
        for key in keys {
            let item = self.get_item(key.clone(), RATE_SK).await?;
            let state = item
                .as_ref()
                .and_then(|item| item.get(STATE))
                .and_then(|value| value.as_n().ok())
                .map(|text| {
                    text.parse::<i64>()
                        .map_err(|_| StoreError::Internal(format!("{key}: bad {STATE} {text:?}")))
                })
                .transpose()?;
            states.push(state);
        }
        Ok(states)
    }

    async fn set_limit_states(&self, updates: &[LimitUpdate]) -> Result<(), StoreError> {
        let items = updates
            .iter()
            .map(|update| {
                let mut write = Update::builder()
                    .table_name(&self.table)
                    .key(PK, s(update.key.clone()))
                    .key(SK, s(RATE_SK))
                    .update_expression("SET #state = :new, #ttl = :ttl")
                    .expression_attribute_names("#state", STATE)
                    .expression_attribute_names("#ttl", EXPIRES_AT)
                    .expression_attribute_values(":new", n(update.new))
                    // Seconds, as TTL reads them; the item is kept a minute past the moment
                    // it stops mattering.
                    .expression_attribute_values(":ttl", n(update.new / 1000 + 60));
                write = match update.old {
                    Some(old) => write
                        .condition_expression("#state = :old")
                        .expression_attribute_values(":old", n(old)),
                    None => write
                        .condition_expression("attribute_not_exists(#pk)")
                        .expression_attribute_names("#pk", PK),
                };
                let update = write
                    .build()
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                Ok(TransactWriteItem::builder().update(update).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.transact(items).await
    }
}
