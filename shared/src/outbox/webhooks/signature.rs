//! The Standard Webhooks signature: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`
//! under the secret (the bytes `whsec_` prefixes, base64), one per secret that signs,
//! space-separated.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::crypto::{hmac_sha256, random_bytes};
use crate::model::webhook::SECRET_PREFIX;

/// A new secret: what its owner is shown (`whsec_` and base64) and the bytes that sign.
/// 24 bytes, the size the specification's libraries generate.
pub fn new_secret() -> (String, Vec<u8>) {
    let bytes = random_bytes::<24>().to_vec();
    (shown(&bytes), bytes)
}

/// The secret as its owner sees it.
pub fn shown(bytes: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The `webhook-signature` header for `body` sent as message `id` at `timestamp` (seconds
/// since the epoch), signed by each of `secrets`.
pub fn signature_header<'a>(
    secrets: impl IntoIterator<Item = &'a [u8]>,
    id: &str,
    timestamp: i64,
    body: &str,
) -> String {
    let signed = format!("{id}.{timestamp}.{body}");
    secrets
        .into_iter()
        .map(|secret| {
            format!(
                "v1,{}",
                STANDARD.encode(hmac_sha256(secret, signed.as_bytes()))
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the specification's reference libraries: secret
    /// `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`, message `msg_p5jXN8AQM9LWM0D4loKWxJek`
    /// at 1614265330 with body `{"test": 2432232314}`.
    #[test]
    fn matches_the_reference_signature() {
        let secret = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            signature_header(
                [secret.as_slice()],
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn every_secret_signs_and_new_secrets_differ() {
        let (shown_a, a) = new_secret();
        let (shown_b, b) = new_secret();
        assert!(shown_a.starts_with("whsec_") && shown_a != shown_b);
        let header = signature_header([a.as_slice(), b.as_slice()], "id", 1, "{}");
        assert_eq!(header.split(' ').count(), 2);
        assert!(header.split(' ').all(|s| s.starts_with("v1,")));
    }
}
