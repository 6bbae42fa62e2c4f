//! Outbound ports: what the service asks of AWS outside its table, as traits, with one
//! adapter per child module (SES v2, Route 53, KMS, EventBridge). Workflows hold the traits,
//! so tests and the local server can turn any service off.

mod eventbridge;
mod kms;
#[cfg(feature = "call-recording")]
pub mod recording;
mod route53;
pub mod sdk_error;
mod ses;

/// An SDK client from its configuration builder: the one place clients are made, so that
/// recording builds attach [`recording::Recorder`] to every one of them.
macro_rules! client {
    ($sdk:ident, $builder:expr) => {{
        let builder = $builder;
        #[cfg(feature = "call-recording")]
        let builder = builder.interceptor(crate::aws::recording::Recorder);
        $sdk::Client::from_conf(builder.build())
    }};
}
pub(crate) use client;

use std::sync::Arc;

use async_trait::async_trait;

pub use eventbridge::EventBridgeSink;
pub use kms::{DataKey, Kms, LocalSealer, create_key};
pub use route53::{Route53, record_value};
pub use sdk_error::CloudError;
pub use ses::{DOMAIN_TAG, ORG_TAG, SesV2};

use crate::dns::DkimKeyPair;
use crate::model::{
    DomainId, DomainName, LifecycleEvent, OrgId, Region, SealedKey, SesView, WebhookId, ZoneId,
    ZoneRecord,
};

/// The AWS services a host uses; any may be off (the local server without endpoints).
#[derive(Clone, Default)]
pub struct Cloud {
    pub ses: Option<Arc<dyn EmailIdentities>>,
    pub zones: Option<Arc<dyn DnsZones>>,
    /// KMS, which seals a DKIM rotation's private key while it waits for SES.
    pub sealer: Option<Arc<dyn KeySealer>>,
}

/// The identity a registration needs.
pub struct IdentitySpec<'a> {
    pub region: Region,
    pub domain: &'a DomainName,
    pub dkim: &'a DkimKeyPair,
    pub org: &'a OrgId,
    pub domain_id: &'a DomainId,
    /// The custom MAIL FROM domain (`send.yourcompany.com`), if the domain has one.
    pub mail_from: Option<String>,
}

#[async_trait]
pub trait EmailIdentities: Send + Sync + 'static {
    /// Creates the identity. One already there tagged with this domain's id (an attempt of
    /// this registration that did not finish) is replaced; any other is `IdentityTaken`.
    async fn create(&self, spec: &IdentitySpec<'_>) -> Result<(), CloudError>;

    /// Removes the identity if its tags name domain `id`: absent already is fine, and one
    /// made for any other domain (a newer registration of the name, say) is left alone.
    async fn delete(
        &self,
        region: Region,
        domain: &DomainName,
        id: &DomainId,
    ) -> Result<(), CloudError>;

    /// Makes SES sign `domain`'s mail with `key` from now on (BYODKIM), replacing the
    /// key it signed with. Setting the key it already has again is harmless.
    async fn switch_dkim(
        &self,
        region: Region,
        domain: &DomainName,
        key: &DkimKeyPair,
    ) -> Result<(), CloudError>;

    /// SES's view, or `None` if there is no identity.
    async fn view(
        &self,
        region: Region,
        domain: &DomainName,
    ) -> Result<Option<SesView>, CloudError>;
}

#[async_trait]
pub trait DnsZones: Send + Sync + 'static {
    /// The account's public hosted zones for `domain` or, if it has none, for its nearest
    /// parent that has one: the zone that serves the name (Route 53 allows several zones of
    /// one name, so all of them). Empty if no zone of the account covers the name.
    async fn nearest_zones(&self, domain: &DomainName) -> Result<Vec<ZoneId>, CloudError>;

    /// Those of `records` the zone does not hold yet: the ones to create. A record set
    /// there with exactly our value is published already (and not ours: nothing to write,
    /// nothing to remove later); one with another value is `RecordsExist`.
    async fn absent(
        &self,
        zone_id: &str,
        records: &[ZoneRecord],
    ) -> Result<Vec<ZoneRecord>, CloudError>;

    /// Adds `records` in one atomic change, and returns the change's id (`None` when there
    /// was nothing to write). `RecordsExist`, and nothing written, if the zone already has
    /// a record set of the same name and type (it is not ours to replace).
    async fn create_records(
        &self,
        zone_id: &str,
        records: &[ZoneRecord],
    ) -> Result<Option<String>, CloudError>;

    /// Whether change `change_id` is `INSYNC`: every one of the zone's servers serves it.
    /// A change Route 53 no longer knows (it keeps them for 90 days) is long in sync.
    async fn change_in_sync(&self, change_id: &str) -> Result<bool, CloudError>;

    /// Removes those of `records` that are in the zone exactly as written; anything else
    /// there stays. Removing what is already gone is fine. Callers pass only record sets
    /// their own change created.
    async fn delete_records(&self, zone_id: &str, records: &[ZoneRecord])
    -> Result<(), CloudError>;
}

/// What a sealed secret belongs to: KMS's encryption context and the cipher's additional
/// data both bind it there, so a sealed secret copied onto another item does not open.
#[derive(Debug, Clone, Copy)]
pub enum SealContext<'a> {
    /// A DKIM private key waiting for its record.
    Dkim {
        domain_id: &'a DomainId,
        selector: &'a str,
    },
    /// A webhook endpoint's signing secret.
    Webhook { webhook_id: &'a WebhookId },
    /// An answer kept for an `Idempotency-Key` that holds a secret: bound to the
    /// organization and the key's hash, so it opens for that organization's key only.
    KeptAnswer {
        org_id: &'a OrgId,
        key_hash: &'a str,
    },
}

impl SealContext<'_> {
    /// The cipher's additional data: unambiguous, as no part contains `/`.
    fn aad(&self) -> Vec<u8> {
        match self {
            SealContext::Dkim {
                domain_id,
                selector,
            } => format!("email-domains/dkim/{domain_id}/{selector}").into_bytes(),
            SealContext::Webhook { webhook_id } => {
                format!("email-domains/webhook/{webhook_id}").into_bytes()
            }
            SealContext::KeptAnswer { org_id, key_hash } => {
                format!("email-domains/idempotency/{org_id}/{key_hash}").into_bytes()
            }
        }
    }

    /// KMS's encryption context: the keys differ by kind, so a role allowed one kind's
    /// context (by `kms:EncryptionContextKeys`) cannot open the other's.
    pub fn encryption_context(&self) -> Vec<(&'static str, String)> {
        match self {
            SealContext::Dkim {
                domain_id,
                selector,
            } => vec![
                ("domainId", domain_id.to_string()),
                ("selector", (*selector).to_owned()),
            ],
            SealContext::Webhook { webhook_id } => vec![("webhookId", webhook_id.to_string())],
            SealContext::KeptAnswer { org_id, key_hash } => vec![
                ("orgId", org_id.to_string()),
                ("idempotencyKey", (*key_hash).to_owned()),
            ],
        }
    }
}

#[async_trait]
pub trait KeySealer: Send + Sync + 'static {
    /// A fresh data key for `context`, to seal with later ([`DataKey::seal`]): what work
    /// whose answer must be kept sealed asks for first, so a refusal is known before
    /// anything is done.
    async fn data_key(&self, context: SealContext<'_>) -> Result<DataKey, CloudError>;

    async fn seal(&self, secret: &[u8], context: SealContext<'_>) -> Result<SealedKey, CloudError> {
        self.data_key(context).await?.seal(context, secret)
    }

    /// The secret, or an error if KMS refuses or the sealed key does not open in this
    /// context (tampered with, or another domain's).
    async fn open(
        &self,
        sealed: &SealedKey,
        context: SealContext<'_>,
    ) -> Result<Vec<u8>, CloudError>;
}

/// Most entries EventBridge takes in one `PutEvents`.
pub const MAX_PER_PUT: usize = 10;

/// Where events go.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Puts at most [`MAX_PER_PUT`] events; one answer per event, in order: `Err` says why
    /// that one was not accepted.
    async fn put(&self, events: &[&LifecycleEvent]) -> Vec<Result<(), String>>;
}
