//! SES v2 email identities: one per domain, in the domain's region, with BYODKIM (our
//! selector and private key), tagged with the organization and domain ids.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::types::{
    BehaviorOnMxFailure, DkimSigningAttributes, DkimSigningAttributesOrigin, Tag,
};

use super::sdk_error::{CloudError, classify, has_code};
use super::{EmailIdentities, IdentitySpec};
use crate::dns::DkimKeyPair;
use crate::model::{DomainId, DomainName, Region, SesView};

pub const ORG_TAG: &str = "email-domains:org-id";
pub const DOMAIN_TAG: &str = "email-domains:domain-id";

/// The SES v2 adapter: one client per region, made on first use and kept.
pub struct SesV2 {
    config: SdkConfig,
    clients: Mutex<HashMap<&'static str, Client>>,
}

struct Existing {
    /// The domain id it is tagged with: whose it is.
    domain_id: Option<String>,
}

impl SesV2 {
    pub fn new(config: SdkConfig) -> Self {
        Self {
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, region: Region) -> Client {
        let mut clients = self.clients.lock().expect("SES client cache lock");
        clients
            .entry(region.as_str())
            .or_insert_with(|| {
                super::client!(
                    aws_sdk_sesv2,
                    aws_sdk_sesv2::config::Builder::from(&self.config)
                        .region(aws_sdk_sesv2::config::Region::new(region.as_str()))
                )
            })
            .clone()
    }

    async fn existing(
        &self,
        region: Region,
        domain: &DomainName,
    ) -> Result<Option<(Existing, SesView)>, CloudError> {
        let result = self
            .client(region)
            .get_email_identity()
            .email_identity(domain.as_str())
            .send()
            .await;
        match result {
            Ok(out) => {
                let domain_id = out
                    .tags()
                    .iter()
                    .find(|t| t.key() == DOMAIN_TAG)
                    .map(|t| t.value().to_owned());
                let view = SesView {
                    verified_for_sending: out.verified_for_sending_status(),
                    dkim_status: out
                        .dkim_attributes()
                        .and_then(|d| d.status())
                        .map_or("NOT_STARTED", |s| s.as_str())
                        .to_owned(),
                    mail_from_status: out
                        .mail_from_attributes()
                        .map(|m| m.mail_from_domain_status())
                        .map(|s| s.as_str().to_owned()),
                    // With a key of our own (BYODKIM), SES lists its selector as the one
                    // token.
                    dkim_selector: out
                        .dkim_attributes()
                        .filter(|d| {
                            d.signing_attributes_origin()
                                == Some(&DkimSigningAttributesOrigin::External)
                        })
                        .and_then(|d| d.tokens().first().cloned()),
                };
                Ok(Some((Existing { domain_id }, view)))
            }
            Err(err) if has_code(&err, &["NotFoundException"]) => Ok(None),
            Err(err) => Err(classify("SES GetEmailIdentity", err)),
        }
    }
}

impl SesV2 {
    async fn remove(&self, region: Region, domain: &DomainName) -> Result<(), CloudError> {
        let result = self
            .client(region)
            .delete_email_identity()
            .email_identity(domain.as_str())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if has_code(&err, &["NotFoundException"]) => Ok(()),
            Err(err) => Err(classify("SES DeleteEmailIdentity", err)),
        }
    }
}

#[async_trait]
impl EmailIdentities for SesV2 {
    async fn create(&self, spec: &IdentitySpec<'_>) -> Result<(), CloudError> {
        // The caller holds the name's reservation, so nothing else of ours creates this
        // identity meanwhile: whatever is there is a leftover.
        if let Some((existing, _)) = self.existing(spec.region, spec.domain).await? {
            if existing.domain_id.as_deref() != Some(spec.domain_id.as_str()) {
                return Err(CloudError::IdentityTaken(format!(
                    "an SES identity for {} already exists in this account and does not \
                     belong to this registration",
                    spec.domain
                )));
            }
            // This registration's, from an attempt that did not finish: start it afresh so
            // SES holds this attempt's key.
            self.remove(spec.region, spec.domain).await?;
        }
        let tag = |key: &str, value: &str| {
            Tag::builder()
                .key(key)
                .value(value)
                .build()
                .expect("key and value set")
        };
        self.client(spec.region)
            .create_email_identity()
            .email_identity(spec.domain.as_str())
            .dkim_signing_attributes(signing_attributes(spec.dkim))
            .tags(tag(ORG_TAG, spec.org.as_str()))
            .tags(tag(DOMAIN_TAG, spec.domain_id.as_str()))
            .send()
            .await
            .map_err(|err| classify("SES CreateEmailIdentity", err))?;
        if let Some(mail_from) = &spec.mail_from {
            // Until SES sees the subdomain's MX it keeps sending with its own MAIL FROM
            // domain (USE_DEFAULT_VALUE), so mail flows before the records are published.
            self.client(spec.region)
                .put_email_identity_mail_from_attributes()
                .email_identity(spec.domain.as_str())
                .mail_from_domain(mail_from)
                .behavior_on_mx_failure(BehaviorOnMxFailure::UseDefaultValue)
                .send()
                .await
                .map_err(|err| classify("SES PutEmailIdentityMailFromAttributes", err))?;
        }
        Ok(())
    }

    async fn delete(
        &self,
        region: Region,
        domain: &DomainName,
        id: &DomainId,
    ) -> Result<(), CloudError> {
        match self.existing(region, domain).await? {
            None => Ok(()),
            // The organization's tag is not enough: a newer registration of the name by the
            // same organization carries it too.
            Some((existing, _)) if existing.domain_id.as_deref() == Some(id.as_str()) => {
                self.remove(region, domain).await
            }
            Some(_) => {
                tracing::warn!(domain = %domain, domain_id = %id, "SES identity belongs to another domain; left in place");
                Ok(())
            }
        }
    }

    async fn switch_dkim(
        &self,
        region: Region,
        domain: &DomainName,
        key: &DkimKeyPair,
    ) -> Result<(), CloudError> {
        self.client(region)
            .put_email_identity_dkim_signing_attributes()
            .email_identity(domain.as_str())
            .signing_attributes_origin(DkimSigningAttributesOrigin::External)
            .signing_attributes(signing_attributes(key))
            .send()
            .await
            .map_err(|err| classify("SES PutEmailIdentityDkimSigningAttributes", err))?;
        Ok(())
    }

    async fn view(
        &self,
        region: Region,
        domain: &DomainName,
    ) -> Result<Option<SesView>, CloudError> {
        Ok(self.existing(region, domain).await?.map(|(_, view)| view))
    }
}

fn signing_attributes(key: &DkimKeyPair) -> DkimSigningAttributes {
    DkimSigningAttributes::builder()
        .domain_signing_selector(key.selector())
        .domain_signing_private_key(key.private_key_base64())
        .build()
}
