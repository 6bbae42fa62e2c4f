//! API keys: `Authorization: Bearer <key>` -> SHA-256 -> organization.
//! The key itself is never stored and never logged; only its hash reaches the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::crypto::{random_token, sha256_hex};
use crate::error::ApiError;
use crate::model::{OrgId, Timestamp};
use crate::store::{ApiKeyRecord, Store};

const KEY_PREFIX: &str = "emk_";
/// A revoked key stops working within this long on a warm container.
const CACHE_TTL: Duration = Duration::from_secs(60);
const CACHE_CAPACITY: usize = 1024;

/// A freshly made API key: shown once, then only its hash exists.
pub struct NewApiKey {
    pub key: String,
    pub record: ApiKeyRecord,
}

impl NewApiKey {
    pub fn generate(org: OrgId, now: Timestamp) -> Self {
        Self::from_key(format!("{KEY_PREFIX}{}", random_token()), org, now)
    }

    /// Wraps a key chosen by an operator (the local server's `--api-key KEY=ORG`).
    pub fn from_key(key: String, org: OrgId, now: Timestamp) -> Self {
        let record = ApiKeyRecord {
            id: format!("key_{}", ulid::Ulid::new()),
            key_hash: hash_key(&key),
            org_id: org,
            created_at: now,
            revoked_at: None,
        };
        Self { key, record }
    }
}

pub fn hash_key(key: &str) -> String {
    sha256_hex(key.as_bytes())
}

/// Resolves bearer keys to organizations, with a small per-container cache so a warm
/// Lambda does not read the table on every request.
pub struct Authenticator {
    store: Arc<dyn Store>,
    cache: Mutex<HashMap<String, (OrgId, Instant)>>,
}

impl Authenticator {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The organization of the `Authorization` header's key, or `Unauthorized`.
    pub async fn organization(&self, authorization: Option<&str>) -> Result<OrgId, ApiError> {
        let key = authorization
            .and_then(bearer_token)
            .ok_or(ApiError::Unauthorized)?;
        let hash = hash_key(key);
        if let Some(org) = self.cached(&hash) {
            return Ok(org);
        }
        let record = self.store.get_api_key(&hash).await?;
        match record {
            Some(record) if record.revoked_at.is_none() => {
                self.remember(hash, record.org_id.clone());
                Ok(record.org_id)
            }
            // Unknown and revoked keys are not cached, so a new key works at once.
            _ => Err(ApiError::Unauthorized),
        }
    }

    fn cached(&self, hash: &str) -> Option<OrgId> {
        let cache = self.cache.lock().expect("auth cache lock");
        cache
            .get(hash)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(org, _)| org.clone())
    }

    fn remember(&self, hash: String, org: OrgId) {
        let mut cache = self.cache.lock().expect("auth cache lock");
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(hash, (org, Instant::now()));
    }
}

/// `Bearer <token>`, scheme case-insensitive (RFC 7235), surrounding space ignored.
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{KeyStore, MemoryStore};

    fn org(id: &str) -> OrgId {
        OrgId::parse(id).unwrap()
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer   abc "), Some("abc"));
        for bad in ["", "Bearer", "Bearer ", "Basic abc", "abc"] {
            assert_eq!(bearer_token(bad), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn keys_resolve_until_revoked() {
        let store = Arc::new(MemoryStore::new());
        let now = Timestamp::from_unix(0);
        let new = NewApiKey::generate(org("org_a"), now);
        assert!(new.key.starts_with(KEY_PREFIX));
        assert_ne!(new.record.key_hash, new.key);
        store.put_api_key(&new.record).await.unwrap();

        let auth = Authenticator::new(store.clone());
        let header = format!("Bearer {}", new.key);
        assert_eq!(
            auth.organization(Some(&header)).await.unwrap(),
            org("org_a")
        );
        assert!(matches!(
            auth.organization(Some("Bearer emk_unknown")).await,
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            auth.organization(None).await,
            Err(ApiError::Unauthorized)
        ));

        store
            .revoke_api_key(&new.record.key_hash, now)
            .await
            .unwrap();
        // A fresh container (no cache) refuses the revoked key at once.
        let cold = Authenticator::new(store);
        assert!(matches!(
            cold.organization(Some(&header)).await,
            Err(ApiError::Unauthorized)
        ));
    }
}
