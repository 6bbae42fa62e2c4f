//! Envelope encryption under a KMS key: how a rotation's DKIM private key waits for its
//! record to be published without ever being stored in plain text.
//!
//! KMS makes a one-off AES-256 data key ([`SealedKey`] explains the shape); the private key
//! is sealed under it with AES-256-GCM. Both KMS (its encryption context) and the cipher
//! (its additional data) bind the sealed key to its domain and selector, so a sealed key
//! copied onto another domain's item does not open.

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::sdk_error::{CloudError, classify};
use super::{KeySealer, SealContext};
use crate::crypto::{open_with, seal_with};
use crate::model::SealedKey;

/// The KMS adapter.
pub struct Kms {
    client: Client,
    key_id: String,
}

impl Kms {
    pub fn new(config: &aws_config::SdkConfig, key_id: impl Into<String>) -> Self {
        Self {
            client: super::client!(aws_sdk_kms, aws_sdk_kms::config::Builder::from(config)),
            key_id: key_id.into(),
        }
    }
}

/// Creates a symmetric KMS key for sealing DKIM keys and returns its ARN: for moto, in the
/// tests and `domainctl dev` (a deployment's key comes from the template).
pub async fn create_key(config: &aws_config::SdkConfig) -> Result<String, CloudError> {
    let out = super::client!(aws_sdk_kms, aws_sdk_kms::config::Builder::from(config))
        .create_key()
        .description("Seals DKIM private keys while a rotation waits (email domains)")
        .send()
        .await
        .map_err(|err| classify("KMS CreateKey", err))?;
    out.key_metadata()
        .and_then(|m| m.arn())
        .map(str::to_owned)
        .ok_or_else(|| CloudError::Internal("KMS CreateKey answered without a key".into()))
}

#[async_trait]
impl KeySealer for Kms {
    async fn data_key(&self, context: SealContext<'_>) -> Result<DataKey, CloudError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(kms_context(context)))
            .send()
            .await
            .map_err(|err| classify("KMS GenerateDataKey", err))?;
        let (Some(plain), Some(encrypted)) = (out.plaintext(), out.ciphertext_blob()) else {
            return Err(CloudError::Internal(
                "KMS GenerateDataKey answered without a data key".into(),
            ));
        };
        Ok(DataKey {
            plain: plain.as_ref().to_vec(),
            key_id: out.key_id().unwrap_or(&self.key_id).to_owned(),
            encrypted: STANDARD.encode(encrypted.as_ref()),
        })
    }

    async fn open(
        &self,
        sealed: &SealedKey,
        context: SealContext<'_>,
    ) -> Result<Vec<u8>, CloudError> {
        let decode = |field: &str, text: &str| {
            STANDARD
                .decode(text)
                .map_err(|_| CloudError::Internal(format!("sealed secret: {field} is not base64")))
        };
        let encrypted = decode("dataKey", &sealed.data_key)?;
        let out = self
            .client
            .decrypt()
            .key_id(&sealed.key_id)
            .ciphertext_blob(Blob::new(encrypted))
            .set_encryption_context(Some(kms_context(context)))
            .send()
            .await
            .map_err(|err| classify("KMS Decrypt", err))?;
        let plain = out.plaintext().ok_or_else(|| {
            CloudError::Internal("KMS Decrypt answered without the data key".into())
        })?;
        open_with(
            plain.as_ref(),
            &context.aad(),
            &decode("nonce", &sealed.nonce)?,
            decode("ciphertext", &sealed.ciphertext)?,
        )
        .map_err(|error| CloudError::Internal(error.to_string()))
    }
}

/// Sealing without KMS, for local hosts only: the same cipher and additional data, under
/// a key the host holds ([`crate::store::ListStore::cursor_key`] turned into a key of its
/// own), so secrets written by one run of the local server open in the next. It protects
/// nothing from someone who reads the table, which holds that key too: a deployment
/// always seals with KMS.
pub struct LocalSealer {
    key: [u8; 32],
}

impl LocalSealer {
    /// A sealer whose key is derived from `table_key` for this purpose alone.
    pub fn derived_from(table_key: &[u8; 32]) -> Self {
        Self {
            key: crate::crypto::hmac_sha256(table_key, b"email-domains/webhook-secrets/v1"),
        }
    }
}

#[async_trait]
impl KeySealer for LocalSealer {
    async fn data_key(&self, _context: SealContext<'_>) -> Result<DataKey, CloudError> {
        Ok(DataKey {
            plain: self.key.to_vec(),
            key_id: LOCAL_KEY_ID.to_owned(),
            encrypted: String::new(),
        })
    }

    async fn open(
        &self,
        sealed: &SealedKey,
        context: SealContext<'_>,
    ) -> Result<Vec<u8>, CloudError> {
        let refused = || CloudError::Internal("the sealed secret does not open".into());
        if sealed.key_id != LOCAL_KEY_ID {
            return Err(refused());
        }
        let nonce = STANDARD.decode(&sealed.nonce).map_err(|_| refused())?;
        let ciphertext = STANDARD.decode(&sealed.ciphertext).map_err(|_| refused())?;
        open_with(&self.key, &context.aad(), &nonce, ciphertext)
            .map_err(|error| CloudError::Internal(error.to_string()))
    }
}

/// A data key to seal with: its plain bytes (never stored), the id of the key it was made
/// under and, for KMS, the data key as KMS encrypted it (stored beside what it seals).
pub struct DataKey {
    plain: Vec<u8>,
    key_id: String,
    encrypted: String,
}

impl DataKey {
    /// `secret` sealed under this key (AES-256-GCM, the context as additional data). The
    /// context must be the one the key was made for, or KMS will not open it again.
    pub fn seal(&self, context: SealContext<'_>, secret: &[u8]) -> Result<SealedKey, CloudError> {
        let (nonce, ciphertext) = seal_with(&self.plain, &context.aad(), secret)
            .map_err(|error| CloudError::Internal(error.to_string()))?;
        Ok(SealedKey {
            key_id: self.key_id.clone(),
            data_key: self.encrypted.clone(),
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ciphertext),
        })
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// KMS's encryption context of `context`, as the SDK takes it.
fn kms_context(context: SealContext<'_>) -> std::collections::HashMap<String, String> {
    context
        .encryption_context()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// `keyId` of what [`LocalSealer`] sealed: no KMS key.
const LOCAL_KEY_ID: &str = "local";
