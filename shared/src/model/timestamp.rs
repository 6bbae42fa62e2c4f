//! Timestamps: UTC, whole seconds, RFC 3339 in JSON and in the table.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

/// A UTC instant with whole-second precision, written as RFC 3339 (`2024-01-10T08:00:00Z`).
///
/// Seconds are enough for an API contract and keep stored strings sortable and short
/// (the sweep's index sorts on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn from_unix(seconds: i64) -> Self {
        Self(OffsetDateTime::from_unix_timestamp(seconds).expect("unix seconds within range"))
    }

    pub fn from_datetime(at: OffsetDateTime) -> Self {
        Self(
            at.to_offset(UtcOffset::UTC)
                .replace_nanosecond(0)
                .expect("0 ns is valid"),
        )
    }

    pub fn parse(text: &str) -> Result<Self, time::error::Parse> {
        OffsetDateTime::parse(text, &Rfc3339).map(Self::from_datetime)
    }

    pub fn datetime(&self) -> OffsetDateTime {
        self.0
    }

    pub fn plus(&self, by: Duration) -> Self {
        Self(self.0 + by)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.format(&Rfc3339).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_rfc3339_utc_seconds() {
        let at = Timestamp::from_unix(1_704_873_600);
        assert_eq!(at.to_string(), "2024-01-10T08:00:00Z");
    }

    #[test]
    fn parse_drops_fractions_and_normalises_offset() {
        let at = Timestamp::parse("2024-01-10T09:00:00.750+01:00").unwrap();
        assert_eq!(at.to_string(), "2024-01-10T08:00:00Z");
    }
}
