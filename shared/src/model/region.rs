use std::fmt;

use serde::Serialize;

/// The SES regions that receive mail (the domain's MX points at
/// `inbound-smtp.<region>.amazonaws.com`). Source: the "Email receiving endpoints" table of
/// the Amazon SES section of the AWS General Reference. Add a region here when AWS adds
/// inbound SMTP to it; nothing else in the service changes.
pub const RECEIVING_REGIONS: &[&str] = &["us-east-1", "us-west-2", "eu-west-1"];

/// An SES region that can receive mail for a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "&'static str")]
pub struct Region(&'static str);

impl Region {
    pub const DEFAULT: Region = Region("us-east-1");

    pub fn parse(text: &str) -> Option<Self> {
        RECEIVING_REGIONS
            .iter()
            .find(|region| **region == text)
            .map(|region| Self(region))
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }

    pub fn inbound_smtp_host(&self) -> String {
        format!("inbound-smtp.{}.amazonaws.com", self.0)
    }
}

impl From<Region> for &'static str {
    fn from(region: Region) -> Self {
        region.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_receiving_regions() {
        assert_eq!(
            Region::parse("eu-west-1").map(|r| r.as_str()),
            Some("eu-west-1")
        );
        for text in ["", "US-EAST-1", "us-east-2", "eu-central-1", "mars-1"] {
            assert!(Region::parse(text).is_none(), "{text}");
        }
    }
}
