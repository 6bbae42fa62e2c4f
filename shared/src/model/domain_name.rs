//! A registrable domain name, validated and normalised (IDNA, case, trailing dot) once,
//! at the edge.

use std::fmt;
use std::net::IpAddr;

use idna::AsciiDenyList;

/// Longest host name in presentation form without the trailing dot (RFC 1035: 255 octets
/// on the wire, which is 253 characters of text).
const MAX_NAME: usize = 253;
/// The longest name that can be registered: its longest record name,
/// `dkimYYYYMMDD._domainkey.<domain>` (24 more characters), must still be a valid name.
/// Longer ones could never publish their records. A MAIL FROM label is at most 23
/// characters ([`super::MailFrom`]), so `<label>.<domain>` fits too.
pub const MAX_REGISTERED: usize = MAX_NAME - "dkim20260101._domainkey.".len();
const MAX_LABEL: usize = 63;

/// A registrable host name in its canonical ASCII form: lower case, no trailing dot,
/// internationalised labels as punycode (`bücher.example` is `xn--bcher-kva.example`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DomainNameError(String);

fn invalid(message: impl Into<String>) -> DomainNameError {
    DomainNameError(message.into())
}

impl DomainName {
    /// Canonicalises and validates what a user typed.
    pub fn parse(input: &str) -> Result<Self, DomainNameError> {
        let trimmed = input.trim();
        let name = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if name.is_empty() {
            return Err(invalid("domain must not be empty"));
        }
        if name.parse::<IpAddr>().is_ok() || name.starts_with('[') {
            return Err(invalid(format!(
                "'{name}' is an IP address, not a domain name"
            )));
        }
        // Precise messages for the common ASCII mistakes before IDNA gets a say, so a
        // user learns that `my_domain.com` fails because of the underscore.
        if let Some(bad) = name.chars().find(|c| c.is_ascii() && !is_host_char(*c)) {
            return Err(invalid(format!("'{bad}' is not allowed in a domain name")));
        }
        let ascii = idna::domain_to_ascii_cow(name.as_bytes(), AsciiDenyList::STD3)
            .map_err(|_| {
                invalid(format!(
                    "'{name}' is not a valid internationalised domain name"
                ))
            })?
            .into_owned();
        validate_labels(&ascii)?;
        if ascii.len() > MAX_REGISTERED {
            return Err(invalid(format!(
                "domain is {} characters long; the limit is {MAX_REGISTERED}, which leaves room \
                 for the records published under it (dkimYYYYMMDD._domainkey.<domain>)",
                ascii.len()
            )));
        }
        // Every top-level domain begins with a letter (IDN ones with `xn--`), so anything
        // else is a typo. Checked here, not in `validate_labels`, so that names stored
        // under the older rule (only all-digit labels refused) still read back.
        let tld = ascii.rsplit('.').next().unwrap_or_default();
        if !tld.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(invalid(format!(
                "'{ascii}' has a top-level label that does not begin with a letter"
            )));
        }
        if psl::suffix(ascii.as_bytes()).is_some_and(|suffix| suffix.as_bytes() == ascii.as_bytes())
        {
            return Err(invalid(format!(
                "'{ascii}' is a public suffix; register a domain under it"
            )));
        }
        Ok(Self(ascii))
    }

    /// A name as the store holds it, validated when it was registered. Only its canonical
    /// form is checked here, not the public-suffix list: the list grows, and a later
    /// version must not make an organization's existing domains unreadable.
    pub fn from_stored(text: &str) -> Option<Self> {
        let canonical = text
            .chars()
            .all(|c| is_host_char(c) && !c.is_ascii_uppercase());
        (canonical && validate_labels(text).is_ok()).then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Joins a relative owner name onto this domain (`_dmarc` -> `_dmarc.example.com`).
    pub fn child(&self, label: &str) -> String {
        format!("{label}.{}", self.0)
    }
}

fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '.'
}

fn validate_labels(name: &str) -> Result<(), DomainNameError> {
    if name.len() > MAX_NAME {
        return Err(invalid(format!(
            "domain is {} characters long; the limit is {MAX_NAME}",
            name.len()
        )));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid(format!(
            "'{name}' is a single label; a domain needs at least two (example.com)"
        )));
    }
    for label in &labels {
        if label.is_empty() {
            return Err(invalid("domain has an empty label ('..')"));
        }
        if label.len() > MAX_LABEL {
            return Err(invalid(format!(
                "label '{label}' is {} characters long; the limit is {MAX_LABEL}",
                label.len()
            )));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid(format!(
                "label '{label}' must not start or end with a hyphen"
            )));
        }
    }
    let tld = labels.last().expect("at least two labels");
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!("'{name}' has a numeric top-level label")));
    }
    Ok(())
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> String {
        DomainName::parse(input)
            .unwrap_or_else(|e| panic!("{input:?} rejected: {e}"))
            .to_string()
    }

    #[test]
    fn stored_names_read_back_whatever_the_public_suffix_list_says_now() {
        // Registered before the list made it a public suffix: still this domain's name.
        assert!(DomainName::parse("co.uk").is_err());
        assert_eq!(DomainName::from_stored("co.uk").unwrap().as_str(), "co.uk");
        assert_eq!(
            DomainName::from_stored("xn--bcher-kva.example").unwrap(),
            DomainName::parse("bücher.example").unwrap()
        );
        // Read back under the rule it was registered under: only all-digit top-level labels
        // were refused then.
        assert!(DomainName::from_stored("x.1a").is_some());
        for corrupt in [
            "",
            "Example.com",
            "a..b",
            "-a.example",
            "com",
            "a b.example",
            "x.123",
        ] {
            assert!(DomainName::from_stored(corrupt).is_none(), "{corrupt:?}");
        }
    }

    #[test]
    fn canonicalises() {
        assert_eq!(ok("  Example.COM. "), "example.com");
        assert_eq!(ok("mail.yourcompany.com"), "mail.yourcompany.com");
        assert_eq!(ok("bücher.example"), "xn--bcher-kva.example");
        assert_eq!(ok("example.xn--p1ai"), "example.xn--p1ai");
        assert_eq!(ok("example.a1"), "example.a1");
        assert_eq!(ok("BÜCHER.example"), "xn--bcher-kva.example");
        assert_eq!(ok("xn--bcher-kva.example"), "xn--bcher-kva.example");
        assert_eq!(ok("example.co.uk"), "example.co.uk");
        assert_eq!(
            ok(&format!("{}.com", "a".repeat(63))),
            format!("{}.com", "a".repeat(63))
        );
    }

    /// Four labels of at most 63 characters and `.com`, `len` characters in all.
    fn name_of_length(len: usize) -> String {
        let a63 = "a".repeat(63);
        let name = format!("{a63}.{a63}.{a63}.{}.com", "b".repeat(len - 196));
        assert_eq!(name.len(), len);
        name
    }

    #[test]
    fn longest_name_is_accepted() {
        assert_eq!(MAX_REGISTERED, 229);
        assert_eq!(ok(&name_of_length(229)), name_of_length(229));
        assert!(DomainName::parse(&name_of_length(230)).is_err());
        // Stored before the limit: still read back.
        assert!(DomainName::from_stored(&name_of_length(253)).is_some());
    }

    #[test]
    fn rejects() {
        let long_name = name_of_length(254);
        for bad in [
            "",
            "   ",
            ".",
            "127.0.0.1",
            "::1",
            "[::1]",
            "com",
            "co.uk",
            "localhost",
            "my_domain.com",
            "-example.com",
            "example-.com",
            "exa mple.com",
            "example..com",
            "example.com/path",
            "user@example.com",
            "*.example.com",
            "example.123",
            "example.1a",
            "example.-a",
            "xn--zz--.example",
            &format!("{}.com", "a".repeat(64)),
            &long_name,
        ] {
            assert!(DomainName::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
