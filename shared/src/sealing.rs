//! Envelope encryption under a KMS key: how a rotation's DKIM private key waits for its
//! record to be published without ever being stored in plain text.
//!
//! KMS makes a one-off AES-256 data key ([`SealedKey`] explains the shape); the private key
//! is sealed under it with AES-256-GCM. Both KMS (its encryption context) and the cipher
//! (its additional data) bind the sealed key to its domain and selector, so a sealed key
//! copied onto another domain's item does not open.

use async_trait::async_trait;
use aws_lc_rs::aead::{AES_256_GCM, Aad, Nonce, RandomizedNonceKey};
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::cloud::{CloudError, classify};
use crate::model::{DomainId, SealedKey};

/// Names the KMS key that seals DKIM keys (id, ARN or alias).
pub const KMS_KEY_VAR: &str = "DKIM_KMS_KEY_ID";

/// What a sealed key belongs to.
#[derive(Debug, Clone, Copy)]
pub struct SealContext<'a> {
    pub domain_id: &'a DomainId,
    pub selector: &'a str,
}

impl SealContext<'_> {
    /// The cipher's additional data: unambiguous, as neither part contains `/`.
    fn aad(&self) -> Vec<u8> {
        format!("email-domains/dkim/{}/{}", self.domain_id, self.selector).into_bytes()
    }
}

#[async_trait]
pub trait KeySealer: Send + Sync + 'static {
    async fn seal(&self, secret: &[u8], context: SealContext<'_>) -> Result<SealedKey, CloudError>;

    /// The secret, or an error if KMS refuses or the sealed key does not open in this
    /// context (tampered with, or another domain's).
    async fn open(
        &self,
        sealed: &SealedKey,
        context: SealContext<'_>,
    ) -> Result<Vec<u8>, CloudError>;
}

/// The KMS adapter.
pub struct Kms {
    client: Client,
    key_id: String,
}

impl Kms {
    pub fn new(config: &aws_config::SdkConfig, key_id: impl Into<String>) -> Self {
        Self {
            client: Client::new(config),
            key_id: key_id.into(),
        }
    }

    /// The sealer the environment names (`DKIM_KMS_KEY_ID`), if it names one.
    pub fn from_env(config: &aws_config::SdkConfig) -> Option<Self> {
        std::env::var(KMS_KEY_VAR)
            .ok()
            .filter(|id| !id.trim().is_empty())
            .map(|id| Self::new(config, id.trim()))
    }
}

/// Creates a symmetric KMS key for sealing DKIM keys and returns its ARN: for moto, in the
/// tests and `domainctl dev` (a deployment's key comes from the template).
pub async fn create_key(config: &aws_config::SdkConfig) -> Result<String, CloudError> {
    let out = Client::new(config)
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
    async fn seal(&self, secret: &[u8], context: SealContext<'_>) -> Result<SealedKey, CloudError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context("domainId", context.domain_id.as_str())
            .encryption_context("selector", context.selector)
            .send()
            .await
            .map_err(|err| classify("KMS GenerateDataKey", err))?;
        let (Some(plain), Some(encrypted)) = (out.plaintext(), out.ciphertext_blob()) else {
            return Err(CloudError::Internal(
                "KMS GenerateDataKey answered without a data key".into(),
            ));
        };
        let (nonce, ciphertext) = seal_with(plain.as_ref(), &context.aad(), secret)?;
        Ok(SealedKey {
            key_id: out.key_id().unwrap_or(&self.key_id).to_owned(),
            data_key: STANDARD.encode(encrypted.as_ref()),
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ciphertext),
        })
    }

    async fn open(
        &self,
        sealed: &SealedKey,
        context: SealContext<'_>,
    ) -> Result<Vec<u8>, CloudError> {
        let decode = |field: &str, text: &str| {
            STANDARD.decode(text).map_err(|_| {
                CloudError::Internal(format!("sealed DKIM key: {field} is not base64"))
            })
        };
        let encrypted = decode("dataKey", &sealed.data_key)?;
        let out = self
            .client
            .decrypt()
            .key_id(&sealed.key_id)
            .ciphertext_blob(Blob::new(encrypted))
            .encryption_context("domainId", context.domain_id.as_str())
            .encryption_context("selector", context.selector)
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
    }
}

/// Seals `secret` under `data_key` with a fresh random nonce; returns the nonce and the
/// ciphertext with its tag.
pub fn seal_with(
    data_key: &[u8],
    aad: &[u8],
    secret: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), CloudError> {
    let key = RandomizedNonceKey::new(&AES_256_GCM, data_key)
        .map_err(|_| CloudError::Internal("the data key is not an AES-256 key".into()))?;
    let mut in_out = secret.to_vec();
    let nonce = key
        .seal_in_place_append_tag(Aad::from(aad), &mut in_out)
        .map_err(|_| CloudError::Internal("AES-GCM sealing failed".into()))?;
    Ok((nonce.as_ref().to_vec(), in_out))
}

/// Opens what [`seal_with`] sealed; any change to key, nonce, additional data or
/// ciphertext is an error, never a wrong secret.
pub fn open_with(
    data_key: &[u8],
    aad: &[u8],
    nonce: &[u8],
    mut ciphertext: Vec<u8>,
) -> Result<Vec<u8>, CloudError> {
    let refused = || CloudError::Internal("the sealed DKIM key does not open".into());
    let key = RandomizedNonceKey::new(&AES_256_GCM, data_key).map_err(|_| refused())?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| refused())?;
    let secret = key
        .open_in_place(nonce, Aad::from(aad), &mut ciphertext)
        .map_err(|_| refused())?;
    Ok(secret.to_vec())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::crypto::random_bytes;

    #[test]
    fn sealed_keys_open_only_with_their_key_and_context() {
        let key = random_bytes::<32>();
        let (nonce, sealed) = seal_with(&key, b"ctx-a", b"private key").unwrap();
        assert!(!sealed.windows(11).any(|w| w == b"private key"));
        assert_eq!(
            open_with(&key, b"ctx-a", &nonce, sealed.clone()).unwrap(),
            b"private key"
        );
        assert!(open_with(&key, b"ctx-b", &nonce, sealed.clone()).is_err());
        assert!(open_with(&random_bytes::<32>(), b"ctx-a", &nonce, sealed.clone()).is_err());
        let (other_nonce, _) = seal_with(&key, b"ctx-a", b"private key").unwrap();
        assert_ne!(nonce, other_nonce, "every seal draws a new nonce");
        assert!(open_with(&key, b"ctx-a", &other_nonce, sealed).is_err());
        assert!(seal_with(&key[..16], b"", b"x").is_err());
    }

    proptest! {
        /// Whatever is stored in the table, opening never panics, and a flipped bit never
        /// opens.
        #[test]
        fn tampering_never_opens_and_never_panics(
            secret in proptest::collection::vec(any::<u8>(), 0..64),
            flip in any::<usize>(),
            nonce in proptest::collection::vec(any::<u8>(), 0..20),
            garbage in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let key = [7u8; 32];
            let (good_nonce, sealed) = seal_with(&key, b"aad", &secret).unwrap();
            let mut flipped = sealed.clone();
            let at = flip % flipped.len();
            flipped[at] ^= 1;
            prop_assert!(open_with(&key, b"aad", &good_nonce, flipped).is_err());
            let _ = open_with(&key, b"aad", &nonce, garbage);
            prop_assert_eq!(open_with(&key, b"aad", &good_nonce, sealed).unwrap(), secret);
        }
    }
}
