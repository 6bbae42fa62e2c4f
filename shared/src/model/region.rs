//! The SES regions a domain can be registered in: those that receive mail.

use std::fmt;

use serde::Serialize;

/// The SES regions that receive mail (the domain's MX points at
/// `inbound-smtp.<region>.amazonaws.com`), all 22 of them. Source: the "Email receiving
/// endpoints" table of the Amazon SES section of the AWS General Reference (three regions
/// until September 2023, when seven were added, and more since). Add a region here when AWS
/// adds inbound SMTP to it: the request check, the MX host, the per-region SES client and
/// `docs/openapi.yaml`'s `Region` (a test compares them) all follow this list.
pub const RECEIVING_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "eu-south-1",
    "af-south-1",
    "il-central-1",
    "me-south-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
];

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

    /// Where SES receives bounces and complaints for a custom MAIL FROM domain: its MX.
    pub fn feedback_smtp_host(&self) -> String {
        format!("feedback-smtp.{}.amazonses.com", self.0)
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
        for text in [
            "",
            "US-EAST-1",
            "eu-central-2",
            "ap-east-1",
            "us-gov-west-1",
            "cn-north-1",
            "mars-1",
            " us-east-1",
        ] {
            assert!(Region::parse(text).is_none(), "{text}");
        }
        assert_eq!(RECEIVING_REGIONS.len(), 22);
        for text in RECEIVING_REGIONS {
            let region = Region::parse(text).expect("a receiving region");
            assert_eq!(
                region.inbound_smtp_host(),
                format!("inbound-smtp.{text}.amazonaws.com")
            );
        }
    }
}
