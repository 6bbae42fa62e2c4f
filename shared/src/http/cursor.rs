//! List cursors: where the next page starts. A cursor is sealed (AES-256-GCM under the
//! store's cursor key) with its organization and status filter as additional data, so a
//! client can neither read nor forge one, and one made for another organization or
//! filter does not open.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto::{open_with, seal_with};
use crate::error::ApiError;
use crate::model::{DomainId, OrgId, Status, Timestamp};

/// How long a cursor is honoured: long enough for any walk, short enough that an old link
/// does not resume a list as if no time had passed.
pub const CURSOR_LIFETIME: time::Duration = time::Duration::hours(24);

/// Longer than any cursor this module makes; longer input is refused unread.
const MAX_LEN: usize = 256;
const NONCE_LEN: usize = 12;

/// What a cursor must match: the list it continues.
#[derive(Debug, Clone, Copy)]
pub struct ListScope<'a> {
    pub org: &'a OrgId,
    pub status: Option<Status>,
}

impl ListScope<'_> {
    fn aad(&self) -> Vec<u8> {
        let status = self.status.map_or("*", |s| s.as_str());
        format!("email-domains/list/v1/{}/{status}", self.org).into_bytes()
    }
}

/// A cursor that starts the list just after `after`.
pub fn seal(key: &[u8; 32], scope: ListScope<'_>, after: &DomainId, now: Timestamp) -> String {
    let plain = format!("{}|{}", after, now.datetime().unix_timestamp());
    let (nonce, sealed) =
        seal_with(key, &scope.aad(), plain.as_bytes()).expect("a 32-byte key always seals");
    let mut bytes = nonce;
    bytes.extend(sealed);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The domain a cursor starts after, if `text` is a cursor this service made for this
/// scope in the last [`CURSOR_LIFETIME`]; every other input is a `VALIDATION_ERROR`.
pub fn open(
    key: &[u8; 32],
    scope: ListScope<'_>,
    text: &str,
    now: Timestamp,
) -> Result<DomainId, ApiError> {
    let invalid = || {
        ApiError::Validation(
            "cursor is not valid for this list: pass the nextCursor of the previous page \
             unchanged, with the same status filter"
                .into(),
        )
    };
    if text.len() > MAX_LEN {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    if bytes.len() <= NONCE_LEN {
        return Err(invalid());
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let plain = open_with(key, &scope.aad(), nonce, sealed.to_vec()).map_err(|_| invalid())?;
    let plain = String::from_utf8(plain).map_err(|_| invalid())?;
    let (after, issued) = plain.split_once('|').ok_or_else(invalid)?;
    let after = DomainId::parse(after).ok_or_else(invalid)?;
    let issued: i64 = issued.parse().map_err(|_| invalid())?;
    let age = now.datetime().unix_timestamp().saturating_sub(issued);
    if age > CURSOR_LIFETIME.whole_seconds() {
        return Err(ApiError::Validation(
            "cursor has expired: list again from the first page".into(),
        ));
    }
    Ok(after)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn org(id: &str) -> OrgId {
        OrgId::parse(id).unwrap()
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix(seconds)
    }

    #[test]
    fn a_cursor_opens_only_for_its_own_list_and_only_for_a_day() {
        let key = crate::crypto::random_bytes::<32>();
        let (a, b) = (org("org_a"), org("org_b"));
        let id = DomainId::generate();
        let scope = |org, status| ListScope { org, status };
        let cursor = seal(&key, scope(&a, None), &id, at(1_000));
        assert_eq!(open(&key, scope(&a, None), &cursor, at(1_000)).unwrap(), id);
        let day = CURSOR_LIFETIME.whole_seconds();
        assert_eq!(
            open(&key, scope(&a, None), &cursor, at(1_000 + day)).unwrap(),
            id
        );
        let refused = [
            open(&key, scope(&b, None), &cursor, at(1_000)),
            open(&key, scope(&a, Some(Status::Active)), &cursor, at(1_000)),
            open(&[7; 32], scope(&a, None), &cursor, at(1_000)),
            open(&key, scope(&a, None), &cursor, at(1_001 + day)),
        ];
        for result in refused {
            assert!(matches!(result, Err(ApiError::Validation(_))), "{result:?}");
        }
        let stale = open(&key, scope(&a, None), &cursor, at(1_001 + day)).unwrap_err();
        assert!(stale.to_string().contains("expired"), "{stale}");
    }

    proptest! {
        /// Whatever a client sends as a cursor, it is refused cleanly, never a panic, and a
        /// changed cursor never opens.
        #[test]
        fn arbitrary_and_altered_cursors_are_refused(
            text in "\\PC{0,300}",
            flip in 0usize..200,
        ) {
            let key = [3u8; 32];
            let a = org("org_a");
            let scope = ListScope { org: &a, status: None };
            prop_assert!(open(&key, scope, &text, at(0)).is_err());
            let good = seal(&key, scope, &DomainId::generate(), at(0));
            let mut bytes = URL_SAFE_NO_PAD.decode(&good).unwrap();
            let i = flip % bytes.len();
            bytes[i] ^= 0x01;
            let altered = URL_SAFE_NO_PAD.encode(bytes);
            prop_assert!(open(&key, scope, &altered, at(0)).is_err());
        }
    }
}
