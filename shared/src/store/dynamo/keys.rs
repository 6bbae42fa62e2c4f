//! [`KeyStore`] on the table: a key's item by its hash, its id's pointer to the hash, and
//! its listing under the organization, written together.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};

use super::items::{opt_str, opt_time, parse_with, s};
use super::{DynamoStore, Item};
use crate::model::{OrgId, Timestamp};
use crate::store::schema::{
    KEY_ID_SK, KEY_SK, ORG_KEY_SK_PREFIX, PK, SK, key_id_pk, key_pk, org_key_sk, org_pk,
};
use crate::store::{ApiKeyRecord, KeyStore, StoreError};

#[async_trait]
impl KeyStore for DynamoStore {
    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut item: Item = HashMap::from([
            (PK.into(), s(key_pk(&key.key_hash))),
            (SK.into(), s(KEY_SK)),
            ("keyId".into(), s(&key.id)),
            ("orgId".into(), s(key.org_id.as_str())),
            ("createdAt".into(), s(key.created_at.to_string())),
        ]);
        let mut listed: Item = HashMap::from([
            (PK.into(), s(org_pk(&key.org_id))),
            (SK.into(), s(org_key_sk(&key.id))),
            ("createdAt".into(), s(key.created_at.to_string())),
        ]);
        if let Some(at) = key.revoked_at {
            item.insert("revokedAt".into(), s(at.to_string()));
            listed.insert("revokedAt".into(), s(at.to_string()));
        }
        let by_id: Item = HashMap::from([
            (PK.into(), s(key_id_pk(&key.id))),
            (SK.into(), s(KEY_ID_SK)),
            ("keyHash".into(), s(&key.key_hash)),
        ]);
        let unconditional = |item: Item| {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .expect("table and item set");
            TransactWriteItem::builder().put(put).build()
        };
        // The key itself only if new: a key is never taken over by another organization.
        self.transact(vec![
            self.put(item, "attribute_not_exists(#pk)"),
            unconditional(by_id),
            unconditional(listed),
        ])
        .await
    }

    async fn get_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let Some(item) = self.get_item(key_pk(key_hash), KEY_SK).await? else {
            return Ok(None);
        };
        Ok(Some(ApiKeyRecord {
            id: opt_str(&item, "keyId").unwrap_or_default(),
            key_hash: key_hash.to_owned(),
            org_id: parse_with(&item, "orgId", OrgId::parse)?,
            created_at: parse_with(&item, "createdAt", |t| Timestamp::parse(t).ok())?,
            revoked_at: opt_time(&item, "revokedAt")?,
        }))
    }

    async fn revoke_api_key(&self, key_hash: &str, at: Timestamp) -> Result<(), StoreError> {
        let key = self
            .get_api_key(key_hash)
            .await?
            .ok_or(StoreError::NotFound)?;
        let revoke = |pk: String, sk: String| {
            let update = Update::builder()
                .table_name(&self.table)
                .key(PK, s(pk))
                .key(SK, s(sk))
                .update_expression("SET #revokedAt = if_not_exists(#revokedAt, :at)")
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#revokedAt", "revokedAt")
                .expression_attribute_values(":at", s(at.to_string()))
                .build()
                .expect("table, key and expression set");
            TransactWriteItem::builder().update(update).build()
        };
        let mut items = vec![revoke(key_pk(key_hash), KEY_SK.to_owned())];
        // Keys made before ids existed have no listing to mark.
        if !key.id.is_empty() {
            items.push(revoke(org_pk(&key.org_id), org_key_sk(&key.id)));
        }
        self.transact(items).await
    }

    async fn api_key_hash(&self, id: &str) -> Result<Option<String>, StoreError> {
        let item = self.get_item(key_id_pk(id), KEY_ID_SK).await?;
        Ok(item.and_then(|i| opt_str(&i, "keyHash")))
    }

    async fn api_keys_of(&self, org: &OrgId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut keys = Vec::new();
        for item in self.items_under(org_pk(org), ORG_KEY_SK_PREFIX).await? {
            let Some(id) = opt_str(&item, SK)
                .and_then(|sk| sk.strip_prefix(ORG_KEY_SK_PREFIX).map(str::to_owned))
            else {
                continue;
            };
            keys.push(ApiKeyRecord {
                id,
                key_hash: String::new(),
                org_id: org.clone(),
                created_at: parse_with(&item, "createdAt", |t| Timestamp::parse(t).ok())?,
                revoked_at: opt_time(&item, "revokedAt")?,
            });
        }
        Ok(keys)
    }
}
