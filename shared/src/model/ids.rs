//! The ids this service issues (`dom_…`, `clm_…`: a prefix and a ULID) and the ones it is
//! given (organizations, hosted zones), each validated.

use std::fmt;

use serde::{Deserialize, Serialize};
use std::sync::Mutex;

use ulid::{Generator, Ulid};

/// An id this service issues: a prefix and a ULID, sortable by creation time, so a table
/// sort key of ids is creation order.
macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Ids made by one process sort in the order they were made, even within one
            /// millisecond (a monotonic ULID generator), so listings are stable newest-first.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, next_ulid()))
            }

            /// Accepts only ids this service could have issued; anything else is simply
            /// unknown.
            pub fn parse(text: &str) -> Option<Self> {
                let ulid = text.strip_prefix($prefix)?;
                let parsed = Ulid::from_string(ulid).ok()?;
                // Canonical form only, so one thing has exactly one id spelling.
                (parsed.to_string() == ulid).then(|| Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(text: String) -> Result<Self, String> {
                Self::parse(&text).ok_or_else(|| format!("'{text}' is not {}", $what))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

fn next_ulid() -> Ulid {
    static GENERATOR: Mutex<Generator> = Mutex::new(Generator::new());
    GENERATOR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .generate()
        // Only after 2^80 ids in one millisecond; a fresh random id is still unique.
        .unwrap_or_else(|_| Ulid::new())
}

ulid_id!(
    /// `dom_` + a ULID.
    DomainId,
    "dom_",
    "a domain id"
);

ulid_id!(
    /// `whk_` + a ULID: a webhook endpoint.
    WebhookId,
    "whk_",
    "a webhook endpoint id"
);

ulid_id!(
    /// `clm_` + a ULID.
    ClaimId,
    "clm_",
    "a claim id"
);

/// An organization (tenant) id, as assigned to API keys by whoever issues them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrgId(String);

impl OrgId {
    /// Letters, digits, `_` and `-`, 1..=64 characters: safe inside a key like `ORG#<id>`.
    pub fn parse(text: &str) -> Option<Self> {
        let valid = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        valid.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OrgId {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text).ok_or_else(|| format!("'{text}' is not an organization id"))
    }
}

impl From<OrgId> for String {
    fn from(id: OrgId) -> String {
        id.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Route 53 hosted zone id (`Z…`, upper-case letters and digits), as an operator assigns
/// it to an organization; the `/hostedzone/` prefix of Route 53's answers is accepted and
/// dropped, so one zone has one spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZoneId(String);

impl ZoneId {
    pub fn parse(text: &str) -> Option<Self> {
        let id = text.trim().trim_start_matches("/hostedzone/");
        let valid = (1..=32).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        valid.then(|| Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ZoneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_have_one_spelling() {
        let id = ZoneId::parse("/hostedzone/Z0123456789ABC").unwrap();
        assert_eq!(id, ZoneId::parse("Z0123456789ABC").unwrap());
        assert_eq!(id.as_str(), "Z0123456789ABC");
        for text in ["", "z012", "Z#1", "Z 1", &"Z".repeat(33)] {
            assert!(ZoneId::parse(text).is_none(), "{text}");
        }
    }

    #[test]
    fn domain_ids_round_trip_and_sort_by_creation() {
        let ids: Vec<DomainId> = (0..1000).map(|_| DomainId::generate()).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
        let first = ids[0].clone();
        assert_eq!(DomainId::parse(first.as_str()), Some(first));
    }

    #[test]
    fn foreign_ids_are_not_domain_ids() {
        for text in [
            "",
            "dom_",
            "dom_123",
            "xyz_01HQ3K5N8X9Y2Z3A4B5C6D7E8F",
            "dom_01hq3k5n8x9y2z3a4b5c6d7e8f",
        ] {
            assert_eq!(DomainId::parse(text), None, "{text}");
        }
    }

    #[test]
    fn org_ids_stay_key_safe() {
        assert!(OrgId::parse("org_local").is_some());
        for text in ["", "org#1", "a b", &"x".repeat(65)] {
            assert!(OrgId::parse(text).is_none(), "{text}");
        }
    }
}
