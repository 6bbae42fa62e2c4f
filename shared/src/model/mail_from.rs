//! The custom MAIL FROM label (`send` in `send.yourcompany.com`), validated.

use std::fmt;

/// The label of a domain's custom MAIL FROM subdomain: `send` in `send.yourcompany.com`.
/// SES puts `<label>.<domain>` in the envelope sender, so SPF aligns with the domain for
/// DMARC, and the subdomain's own SPF record keeps the apex's free for the user's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFrom(String);

impl MailFrom {
    /// What a registration gets when it names none (as Resend's `send.`).
    pub fn standard() -> Self {
        Self("send".into())
    }

    /// The longest label: with the longest domain that can be registered, `<label>.<domain>`
    /// is still at most 253 characters.
    pub const MAX_LEN: usize = 23;

    /// One DNS label of letters, digits and hyphens (not at either end), at most
    /// [`MailFrom::MAX_LEN`] characters; letters are lower-cased.
    pub fn parse(text: &str) -> Result<Self, String> {
        let label = text.to_ascii_lowercase();
        let fits = !label.is_empty()
            && label.len() <= Self::MAX_LEN
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if fits {
            Ok(Self(label))
        } else {
            Err(format!(
                "mailFrom must be one DNS label (letters, digits and inner hyphens, at most {} \
                 characters), like \"send\"; got {text:?}",
                Self::MAX_LEN
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MailFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_label() {
        assert_eq!(MailFrom::parse("Bounce").unwrap().as_str(), "bounce");
        assert_eq!(
            MailFrom::parse("pm-bounces").unwrap().as_str(),
            "pm-bounces"
        );
        assert_eq!(MailFrom::parse(&"a".repeat(23)).unwrap().as_str().len(), 23);
        for bad in [
            "",
            "a.b",
            "-send",
            "send-",
            "_send",
            "sé",
            "send ",
            &"a".repeat(24),
        ] {
            assert!(MailFrom::parse(bad).is_err(), "{bad:?}");
        }
    }
}
