//! Randomness, hashing and authenticated encryption (AES-256-GCM), all from aws-lc-rs
//! (already linked by the AWS SDK).

use aws_lc_rs::aead::{AES_256_GCM, Aad, Nonce, RandomizedNonceKey};
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the system random generator does not fail");
    buf
}

/// 32 random bytes, base64url without padding: safe in a header, a URL and a DNS TXT
/// record.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest(&SHA256, data))
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let mut tag = [0u8; 32];
    tag.copy_from_slice(aws_lc_rs::hmac::sign(&key, data).as_ref());
    tag
}

/// Why a secret could not be sealed or opened; never which part was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SealError(&'static str);

/// Seals `secret` under `data_key` with a fresh random nonce; returns the nonce and the
/// ciphertext with its tag.
pub fn seal_with(
    data_key: &[u8],
    aad: &[u8],
    secret: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), SealError> {
    let key = RandomizedNonceKey::new(&AES_256_GCM, data_key)
        .map_err(|_| SealError("the data key is not an AES-256 key"))?;
    let mut in_out = secret.to_vec();
    let nonce = key
        .seal_in_place_append_tag(Aad::from(aad), &mut in_out)
        .map_err(|_| SealError("AES-GCM sealing failed"))?;
    Ok((nonce.as_ref().to_vec(), in_out))
}

/// Opens what [`seal_with`] sealed; any change to key, nonce, additional data or
/// ciphertext is an error, never a wrong secret.
pub fn open_with(
    data_key: &[u8],
    aad: &[u8],
    nonce: &[u8],
    mut ciphertext: Vec<u8>,
) -> Result<Vec<u8>, SealError> {
    let refused = || SealError("the sealed secret does not open");
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

    #[test]
    fn tokens_are_distinct_and_sized() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
    }

    #[test]
    fn hmac_known_answer() {
        // RFC 4231, test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

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
