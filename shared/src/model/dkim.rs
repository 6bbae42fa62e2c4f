//! A domain's DKIM keys over time: the one SES signs with (in [`super::VerificationSetup`]),
//! the next one while a rotation waits for its record, and the one a rotation retired.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// A private key sealed under a KMS key (envelope encryption): KMS makes a one-off AES-256
/// data key and returns it twice, in plain (used once, then dropped) and encrypted under
/// the KMS key (kept here); the private key is sealed with AES-256-GCM under the plain one.
/// Opening it takes a KMS `Decrypt` with the same encryption context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealedKey {
    /// The KMS key that encrypted the data key (its ARN, as KMS reports it).
    pub key_id: String,
    /// The data key as KMS encrypted it, base64.
    pub data_key: String,
    /// The AES-GCM nonce, base64.
    pub nonce: String,
    /// The sealed PKCS#8 private key and its tag, base64.
    pub ciphertext: String,
}

/// The key a rotation made: published beside the current one until its record verifies;
/// then SES signs with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextDkim {
    pub selector: String,
    /// Base64 DER SubjectPublicKeyInfo, the `p=` of its record.
    pub public_key: String,
    /// The private key until SES has it; `None` where the deployment has no SES (nothing
    /// signs, so nothing is kept) and in what a registration's undo remembers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SealedKey>,
    pub requested_at: Timestamp,
}

/// How long a retired DKIM record stays in a managed zone by default (`DKIM_RETIRE_AFTER`):
/// mail signed just before a switch may sit in queues and be verified for a day or two.
pub const DKIM_RETIRE_AFTER: time::Duration = time::Duration::hours(48);

/// The key SES signed with before the last rotation: its record may be removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetiredDkim {
    pub selector: String,
    pub public_key: String,
    /// When SES switched away from it.
    pub retired_at: Timestamp,
}

/// A selector for a key made at `now` that none of `taken` uses: `dkimYYYYMMDD`, with a
/// letter after it when a key of the same day has that name already (a rotation on the
/// day of registration, say), so both records can be published side by side.
pub fn selector_for(now: Timestamp, taken: &[&str]) -> String {
    let date = now.datetime().date();
    let base = format!(
        "dkim{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    );
    std::iter::once(base.clone())
        .chain(('b'..='z').map(|suffix| format!("{base}{suffix}")))
        .find(|candidate| !taken.contains(&candidate.as_str()))
        .expect("at most a few selectors are taken at once")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_name_the_day_and_never_repeat_a_taken_one() {
        let day = Timestamp::from_unix(1_704_873_600);
        assert_eq!(selector_for(day, &[]), "dkim20240110");
        assert_eq!(selector_for(day, &["dkim20240110"]), "dkim20240110b");
        assert_eq!(
            selector_for(day, &["dkim20240110b", "dkim20240110"]),
            "dkim20240110c"
        );
        assert_eq!(selector_for(day, &["dkim20231231"]), "dkim20240110");
    }
}
