//! The rules a receiver applies to what DNS holds, as pure functions of the published
//! values. They are total: they read TXT data as the raw bytes DNS carries, never index
//! into text, and answer every byte sequence with a verdict (property-tested, and fuzzed
//! by `fuzz/fuzz_targets/txt_rules.rs`), so no tenant's record can stop a check.
//!
//! Past 600 lines on purpose: nearly half is the tests, each rule's cases and properties
//! beside the parser they hold to its RFC.

use crate::model::RecordStatus;

/// One published value, as a receiver reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Mx {
        preference: u16,
        host: String,
    },
    /// The character-strings of one TXT record, joined (RFC 7208 §3.3, RFC 6376
    /// §3.6.2.2): a 2048-bit DKIM key does not fit in one.
    Txt(Vec<u8>),
}

/// At most this many values are kept in a finding's `found`, each cut to this many bytes:
/// a zone may hold hundreds of TXT records, and findings are stored with the domain.
pub const FOUND_VALUES: usize = 10;
pub const FOUND_BYTES: usize = 512;

impl Value {
    /// How `found` shows the value: MX as `preference host`, TXT as text (bytes that are
    /// not UTF-8 replaced), at most [`FOUND_BYTES`] bytes.
    pub fn display(&self) -> String {
        let text = match self {
            Value::Mx { preference, host } => format!("{preference} {host}"),
            Value::Txt(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        };
        bounded(text)
    }

    fn txt(&self) -> Option<&[u8]> {
        match self {
            Value::Txt(bytes) => Some(bytes),
            Value::Mx { .. } => None,
        }
    }
}

/// `text` cut to at most [`FOUND_BYTES`] bytes, on a character boundary, with an
/// ellipsis when cut.
pub fn bounded(text: String) -> String {
    if text.len() <= FOUND_BYTES {
        return text;
    }
    const ELLIPSIS: &str = "…";
    let mut end = FOUND_BYTES - ELLIPSIS.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ELLIPSIS}", &text[..end])
}

/// A rule's judgement of what one server (or the resolver) returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: RecordStatus,
    /// A sentence a person can act on; `None` when verified.
    pub reason: Option<String>,
}

impl Verdict {
    pub fn verified() -> Self {
        Self {
            status: RecordStatus::Verified,
            reason: None,
        }
    }

    pub fn fails(status: RecordStatus, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: Some(reason.into()),
        }
    }

    fn missing(reason: impl Into<String>) -> Self {
        Self::fails(RecordStatus::Missing, reason)
    }

    fn wrong(reason: impl Into<String>) -> Self {
        Self::fails(RecordStatus::WrongValue, reason)
    }

    fn conflict(reason: impl Into<String>) -> Self {
        Self::fails(RecordStatus::Conflict, reason)
    }
}

/// Host names compare case-insensitively and without the root dot.
pub fn normalise_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// MX: mail goes to the best (lowest) preference first, so our host counts only if no
/// other host has a better preference, or the same one (senders pick among equals at
/// random, so some mail would go elsewhere).
pub fn judge_mx(ours: &str, values: &[Value]) -> Verdict {
    let hosts: Vec<(u16, String)> = values
        .iter()
        .filter_map(|v| match v {
            Value::Mx { preference, host } => Some((*preference, normalise_host(host))),
            Value::Txt(_) => None,
        })
        .collect();
    let ours = normalise_host(ours);
    let Some(our_preference) = hosts
        .iter()
        .filter(|(_, host)| *host == ours)
        .map(|(p, _)| *p)
        .min()
    else {
        return Verdict::wrong(format!("no MX record points to {ours}"));
    };
    match hosts.iter().filter(|(_, host)| *host != ours).min() {
        Some((best, other)) if *best < our_preference => Verdict::conflict(format!(
            "{other} has a better preference ({best}) than {ours} ({our_preference}), so \
             mail goes there; remove it or give it a higher number"
        )),
        Some((best, other)) if *best == our_preference => Verdict::conflict(format!(
            "{other} has the same preference ({best}) as {ours}, so part of the mail goes \
             there; remove it or give it a higher number"
        )),
        _ => Verdict::verified(),
    }
}

/// The ownership TXT: any record there holding exactly the token (white space around it
/// ignored; other TXT records beside it do not matter).
pub fn judge_ownership(token: &str, values: &[Value]) -> Verdict {
    let holds_token = values
        .iter()
        .filter_map(Value::txt)
        .any(|text| text.trim_ascii() == token.as_bytes());
    if holds_token {
        Verdict::verified()
    } else {
        Verdict::wrong("no TXT record there holds this domain's token")
    }
}

/// Whether `text` starts with the version tag `tag` (`v=spf1`), case-insensitively, and
/// the tag ends there or at white space (RFC 7208 §4.5).
fn starts_with_tag(text: &[u8], tag: &[u8]) -> bool {
    let text = text.trim_ascii_start();
    match (text.get(..tag.len()), text.get(tag.len())) {
        (Some(head), next) => {
            head.eq_ignore_ascii_case(tag) && next.is_none_or(|b| b.is_ascii_whitespace())
        }
        (None, _) => false,
    }
}

/// SPF (RFC 7208): exactly one `v=spf1` record, whose terms include `amazonses.com` with a
/// pass qualifier (`include:amazonses.com` or `+include:…`: `~` and `?` do not authorise).
pub fn judge_spf(values: &[Value]) -> Verdict {
    let records: Vec<&[u8]> = values
        .iter()
        .filter_map(Value::txt)
        .filter(|t| starts_with_tag(t, b"v=spf1"))
        .collect();
    let record = match records.as_slice() {
        [] => return Verdict::missing(format!("no SPF record (publish \"{SPF_VALUE}\")")),
        [record] => *record,
        many => {
            return Verdict::conflict(format!(
                "{} SPF records found; a domain must publish exactly one (merge them), \
                 receivers treat several as an error (RFC 7208 §4.5)",
                many.len()
            ));
        }
    };
    if !record.iter().all(|b| *b == b' ' || b.is_ascii_graphic()) {
        return Verdict::wrong(
            "the SPF record holds characters other than printable ASCII, which receivers \
             reject as a syntax error (RFC 7208 §4.6)",
        );
    }
    let includes_ses = record.split(|b| *b == b' ').any(|term| {
        let term = term.strip_prefix(b"+").unwrap_or(term);
        let Some(target) = strip_prefix_ignore_case(term, b"include:") else {
            return false;
        };
        let target = target.strip_suffix(b".").unwrap_or(target);
        target.eq_ignore_ascii_case(b"amazonses.com")
    });
    if includes_ses {
        Verdict::verified()
    } else {
        Verdict::wrong(
            "the SPF record does not include amazonses.com (add include:amazonses.com \
             before its all term)",
        )
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

pub const SPF_VALUE: &str = "v=spf1 include:amazonses.com ~all";

/// A tag list (RFC 6376 §3.2, also DMARC's, RFC 7489 §6.3): `name=value` pairs separated
/// by `;`, white space around names and values, an optional trailing `;`. `None` if it is
/// not one: a tag without `=`, an invalid name, or a name given twice (an error, §3.2).
pub fn tag_list(text: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut tags: Vec<(&[u8], &[u8])> = Vec::new();
    let specs: Vec<&[u8]> = text.split(|b| *b == b';').collect();
    for (i, spec) in specs.iter().enumerate() {
        if spec.trim_ascii().is_empty() && i + 1 == specs.len() && i > 0 {
            break; // the trailing `;`
        }
        let equals = spec.iter().position(|b| *b == b'=')?;
        let name = spec.get(..equals)?.trim_ascii();
        let value = spec.get(equals + 1..)?.trim_ascii();
        let valid_name = name.first().is_some_and(u8::is_ascii_alphabetic)
            && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_');
        if !valid_name || tags.iter().any(|(seen, _)| *seen == name) {
            return None;
        }
        tags.push((name, value));
    }
    Some(tags)
}

fn tag<'a>(tags: &[(&'a [u8], &'a [u8])], name: &[u8]) -> Option<&'a [u8]> {
    tags.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// What a TXT record at a DKIM selector is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DkimRecord {
    /// A key record: its key type and `p=` with white space removed (empty: revoked).
    Key {
        key_type: String,
        public_key: String,
    },
    /// Not a DKIM key record, and why.
    Other(&'static str),
}

/// Reads a DKIM key record (RFC 6376 §3.6.1): a tag list in any order, `v=DKIM1` first if
/// present, `k=` defaulting to `rsa`, `p=` required.
pub fn dkim_record(text: &[u8]) -> DkimRecord {
    let Some(tags) = tag_list(text) else {
        return DkimRecord::Other("it is not a tag list (name=value; name=value)");
    };
    if let Some(position) = tags.iter().position(|(n, _)| *n == b"v") {
        if position != 0 {
            return DkimRecord::Other("its v= tag is not the first tag");
        }
        if tags[0].1 != b"DKIM1" {
            return DkimRecord::Other("its version is not v=DKIM1");
        }
    }
    let Some(public_key) = tag(&tags, b"p") else {
        return DkimRecord::Other("it has no p= tag");
    };
    let public_key: Vec<u8> = public_key
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let key_type = tag(&tags, b"k").unwrap_or(b"rsa");
    DkimRecord::Key {
        key_type: String::from_utf8_lossy(key_type).to_ascii_lowercase(),
        public_key: String::from_utf8_lossy(&public_key).into_owned(),
    }
}

/// DKIM: exactly one record at the selector, an RSA key record whose `p=` is ours. Other
/// TXT records beside it are a conflict: a verifier may read any record there (RFC 6376
/// §3.6.2.2) and fail on one that is not the key.
pub fn judge_dkim(public_key: &str, values: &[Value]) -> Verdict {
    let records: Vec<DkimRecord> = values
        .iter()
        .filter_map(Value::txt)
        .map(dkim_record)
        .collect();
    let keys: Vec<(&str, &str)> = records
        .iter()
        .filter_map(|r| match r {
            DkimRecord::Key {
                key_type,
                public_key,
            } => Some((key_type.as_str(), public_key.as_str())),
            DkimRecord::Other(_) => None,
        })
        .collect();
    match keys.as_slice() {
        [] => match records.first() {
            Some(DkimRecord::Other(why)) => Verdict::wrong(format!(
                "the TXT record there is not a DKIM key record: {why}"
            )),
            _ => Verdict::missing("no DKIM key record (v=DKIM1; k=rsa; p=...) there"),
        },
        [(_, "")] => {
            Verdict::wrong("the DKIM record's p= is empty, which means the key is revoked")
        }
        [(key_type, _)] if *key_type != "rsa" => Verdict::wrong(format!(
            "the DKIM record is for a {key_type} key; this domain's key is rsa (k=rsa)"
        )),
        [(_, key)] if *key == public_key && records.len() == 1 => Verdict::verified(),
        [(_, key)] if *key == public_key => Verdict::conflict(format!(
            "besides the key, {} other TXT record(s) stand at the selector; receivers may \
             read one of them instead of the key (RFC 6376 §3.6.2.2): remove them",
            records.len() - 1
        )),
        [_] => Verdict::wrong("the DKIM record's p= is not this domain's public key"),
        many => Verdict::conflict(format!(
            "{} DKIM key records at one selector; publish exactly one",
            many.len()
        )),
    }
}

/// DMARC (RFC 7489): exactly one record starting `v=DMARC1`, with a valid policy.
pub fn judge_dmarc(values: &[Value]) -> Verdict {
    let records: Vec<&[u8]> = values
        .iter()
        .filter_map(Value::txt)
        .filter(|t| is_dmarc(t))
        .collect();
    let record = match records.as_slice() {
        [] => return Verdict::missing("no DMARC record (v=DMARC1; p=...)"),
        [record] => *record,
        many => {
            return Verdict::conflict(format!(
                "{} DMARC records found; receivers ignore all of them (RFC 7489 §6.6.3)",
                many.len()
            ));
        }
    };
    let policy = tag_list(record).and_then(|tags| tag(&tags, b"p"));
    match policy {
        Some(p)
            if [&b"none"[..], b"quarantine", b"reject"]
                .iter()
                .any(|valid| p.eq_ignore_ascii_case(valid)) =>
        {
            Verdict::verified()
        }
        Some(_) => Verdict::wrong(
            "the DMARC record's p= is not none, quarantine or reject (RFC 7489 §6.3)",
        ),
        None => Verdict::wrong(
            "the DMARC record has no p= policy tag, or is not a valid tag list (RFC 7489 \
             §6.3)",
        ),
    }
}

/// Records whose first tag is `v=DMARC1` (white space around `=` allowed, RFC 7489 §6.4);
/// all others are discarded (§6.6.3).
fn is_dmarc(text: &[u8]) -> bool {
    let Some((name, rest)) = text.split_first_chunk::<1>() else {
        return false;
    };
    if name != b"v" {
        return false;
    }
    let rest = rest.trim_ascii_start();
    let Some(rest) = rest.strip_prefix(b"=") else {
        return false;
    };
    let rest = rest.trim_ascii_start();
    match rest.strip_prefix(b"DMARC1") {
        Some(after) => {
            let after = after.trim_ascii_start();
            after.is_empty() || after.starts_with(b";")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(text: &str) -> Value {
        Value::Txt(text.as_bytes().to_vec())
    }

    fn mx(preference: u16, host: &str) -> Value {
        Value::Mx {
            preference,
            host: host.to_owned(),
        }
    }

    const KEY: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA";

    #[test]
    fn dkim_tag_lists_follow_rfc_6376() {
        for record in [
            format!("v=DKIM1; k=rsa; p={KEY}"),
            format!("v=DKIM1; k=rsa; p={KEY};"),
            format!("v=DKIM1;k=rsa;p={KEY};  "),
            format!("p={KEY}; k=rsa"),
            format!("p={KEY}"),
            format!(
                " v = DKIM1 ;\tk = rsa ; p = {} {} ; t=s",
                &KEY[..10],
                &KEY[10..]
            ),
            format!("v=DKIM1; h=sha256; k=RSA; s=email; p={KEY}"),
        ] {
            assert_eq!(
                judge_dkim(KEY, &[txt(&record)]),
                Verdict::verified(),
                "{record}"
            );
        }
    }

    #[test]
    fn dkim_refusals_say_why() {
        let status = |record: &str| judge_dkim(KEY, &[txt(record)]).status;
        assert_eq!(status("v=DKIM1; k=rsa; p="), RecordStatus::WrongValue);
        assert_eq!(
            status("v=DKIM1; k=ed25519; p=abc"),
            RecordStatus::WrongValue
        );
        assert_eq!(
            status(&format!("k=rsa; v=DKIM1; p={KEY}")),
            RecordStatus::WrongValue
        );
        assert_eq!(
            status(&format!("v=DKIM1; p={KEY}; p={KEY}")),
            RecordStatus::WrongValue
        );
        assert_eq!(status("v=DKIM1; k=rsa; p=other"), RecordStatus::WrongValue);
        assert_eq!(
            status("google-site-verification=x"),
            RecordStatus::WrongValue
        );
        assert_eq!(judge_dkim(KEY, &[]).status, RecordStatus::Missing);
        let revoked = judge_dkim(KEY, &[txt("v=DKIM1; p=")]);
        assert!(revoked.reason.unwrap().contains("revoked"));
        let two = judge_dkim(KEY, &[txt(&format!("p={KEY}")), txt("p=other")]);
        assert_eq!(two.status, RecordStatus::Conflict);
        let beside = judge_dkim(KEY, &[txt(&format!("p={KEY}")), txt("hello")]);
        assert_eq!(beside.status, RecordStatus::Conflict);
        assert!(beside.reason.unwrap().contains("other TXT record"));
    }

    #[test]
    fn spf_follows_rfc_7208() {
        let status = |records: &[&str]| {
            judge_spf(&records.iter().map(|r| txt(r)).collect::<Vec<_>>()).status
        };
        assert_eq!(
            status(&["v=spf1 include:amazonses.com ~all"]),
            RecordStatus::Verified
        );
        assert_eq!(
            status(&["V=SPF1 +INCLUDE:AmazonSES.com. -all"]),
            RecordStatus::Verified
        );
        assert_eq!(
            status(&["v=spf1 mx include:_spf.other.example include:amazonses.com -all"]),
            RecordStatus::Verified
        );
        assert_eq!(
            status(&["v=spf1 ~include:amazonses.com -all"]),
            RecordStatus::WrongValue
        );
        assert_eq!(status(&["v=spf1 -all"]), RecordStatus::WrongValue);
        assert_eq!(
            status(&["v=spf10 include:amazonses.com"]),
            RecordStatus::Missing
        );
        assert_eq!(status(&["verification=abc"]), RecordStatus::Missing);
        assert_eq!(
            status(&["v=spf1 include:amazonses.com", "v=spf1 -all"]),
            RecordStatus::Conflict
        );
        let hostile = judge_spf(&[Value::Txt(b"v=spf1 include:amazonses.com \xff".to_vec())]);
        assert_eq!(hostile.status, RecordStatus::WrongValue);
    }

    #[test]
    fn dmarc_follows_rfc_7489() {
        let status = |records: &[&str]| {
            judge_dmarc(&records.iter().map(|r| txt(r)).collect::<Vec<_>>()).status
        };
        assert_eq!(status(&["v=DMARC1; p=none"]), RecordStatus::Verified);
        assert_eq!(status(&["v = DMARC1;p=Reject;"]), RecordStatus::Verified);
        assert_eq!(
            status(&["v=DMARC1; rua=mailto:d@x.example; p=quarantine; pct=50"]),
            RecordStatus::Verified
        );
        assert_eq!(status(&["v=DMARC1"]), RecordStatus::WrongValue);
        assert_eq!(status(&["v=DMARC1; p=block"]), RecordStatus::WrongValue);
        assert_eq!(status(&["v=dmarc1; p=none"]), RecordStatus::Missing);
        assert_eq!(status(&["p=none; v=DMARC1"]), RecordStatus::Missing);
        assert_eq!(
            status(&["v=DMARC1; p=none", "v=DMARC1; p=reject"]),
            RecordStatus::Conflict
        );
    }

    #[test]
    fn mx_needs_the_best_preference_alone() {
        let ours = "inbound-smtp.us-east-1.amazonaws.com";
        assert_eq!(
            judge_mx(ours, &[mx(10, &format!("{ours}."))]),
            Verdict::verified()
        );
        assert_eq!(
            judge_mx(ours, &[mx(10, ours), mx(20, "backup.example")]),
            Verdict::verified()
        );
        assert_eq!(
            judge_mx(ours, &[mx(10, ours), mx(5, "mx.example")]).status,
            RecordStatus::Conflict
        );
        let tie = judge_mx(ours, &[mx(10, ours), mx(10, "mx.example")]);
        assert_eq!(tie.status, RecordStatus::Conflict);
        assert!(tie.reason.unwrap().contains("same preference"));
        assert_eq!(
            judge_mx(ours, &[mx(10, "mx.example")]).status,
            RecordStatus::WrongValue
        );
    }

    #[test]
    fn the_hostile_bytes_of_the_bug_report_are_judged() {
        // A multi-byte character where the version tag is read used to panic.
        for bytes in [
            &b"abcde\xff"[..],
            "abcde\u{e9}".as_bytes(),
            "v=spf\u{e9}".as_bytes(),
            "\u{1F600}\u{1F600}".as_bytes(),
            b"v",
            b"",
            b";",
            b"=",
            b"v=DKIM1;;;",
        ] {
            let values = [Value::Txt(bytes.to_vec())];
            judge_spf(&values);
            judge_dmarc(&values);
            judge_dkim(KEY, &values);
            judge_ownership("token", &values);
            assert!(values[0].display().len() <= FOUND_BYTES);
        }
    }

    #[test]
    fn found_values_are_bounded_on_a_character_boundary() {
        let long = Value::Txt("é".repeat(400).into_bytes());
        let shown = long.display();
        assert!(shown.len() <= FOUND_BYTES, "{}", shown.len());
        assert!(shown.ends_with('…'));
        assert_eq!(txt("short").display(), "short");
    }
    mod properties {
        use proptest::prelude::*;

        use super::super::*;
        use super::KEY;

        /// Pieces that sit where parsers look: version tags, separators, multi-byte
        /// characters cut anywhere, bytes that are not UTF-8.
        fn adversarial() -> impl Strategy<Value = Vec<u8>> {
            let piece = prop_oneof![
                Just(b"v=spf1".to_vec()),
                Just(b"v=DKIM1".to_vec()),
                Just(b"v=DMARC1".to_vec()),
                Just(b"V=SPF1".to_vec()),
                Just(b"include:amazonses.com".to_vec()),
                Just(b"+include:AMAZONSES.COM.".to_vec()),
                Just(b"p=".to_vec()),
                Just(b"k=rsa".to_vec()),
                Just(KEY.as_bytes().to_vec()),
                Just(b";".to_vec()),
                Just(b"=".to_vec()),
                Just(b" ".to_vec()),
                Just(b"\t".to_vec()),
                Just("\u{e9}".as_bytes().to_vec()),
                Just("\u{1F600}".as_bytes()[..3].to_vec()),
                Just(vec![0xff]),
                Just(vec![0]),
                proptest::collection::vec(any::<u8>(), 0..8),
            ];
            proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
        }

        fn txt_values() -> impl Strategy<Value = Vec<Value>> {
            let bytes = prop_oneof![
                adversarial(),
                proptest::collection::vec(any::<u8>(), 0..600),
            ];
            proptest::collection::vec(bytes.prop_map(Value::Txt), 0..6)
        }

        fn mx_values() -> impl Strategy<Value = Vec<Value>> {
            let host = prop_oneof![
                Just("inbound-smtp.us-east-1.amazonaws.com".to_owned()),
                Just("INBOUND-SMTP.US-EAST-1.AMAZONAWS.COM.".to_owned()),
                "\\PC{0,40}",
            ];
            proptest::collection::vec(
                (0u16..4, host).prop_map(|(preference, host)| Value::Mx { preference, host }),
                0..6,
            )
        }

        fn consistent(verdict: &Verdict) -> bool {
            verdict.reason.is_none() == verdict.status.is_verified()
        }

        proptest! {
            #[test]
            fn every_rule_answers_every_txt_value(values in txt_values()) {
                for verdict in [
                    judge_spf(&values),
                    judge_dmarc(&values),
                    judge_dkim(KEY, &values),
                    judge_ownership("token", &values),
                    judge_mx("inbound-smtp.us-east-1.amazonaws.com", &values),
                ] {
                    prop_assert!(consistent(&verdict), "{verdict:?}");
                }
                for value in &values {
                    prop_assert!(value.display().len() <= FOUND_BYTES);
                }
            }

            #[test]
            fn a_verified_dkim_is_exactly_one_record_holding_our_key(values in txt_values()) {
                if judge_dkim(KEY, &values).status.is_verified() {
                    prop_assert_eq!(values.len(), 1);
                    let Value::Txt(text) = &values[0] else { unreachable!() };
                    prop_assert_eq!(
                        dkim_record(text),
                        DkimRecord::Key { key_type: "rsa".into(), public_key: KEY.into() }
                    );
                }
            }

            #[test]
            fn a_verified_spf_is_the_only_spf_record(values in txt_values()) {
                if judge_spf(&values).status.is_verified() {
                    let spf = values
                        .iter()
                        .filter(|v| matches!(v, Value::Txt(t) if starts_with_tag(t, b"v=spf1")))
                        .count();
                    prop_assert_eq!(spf, 1);
                }
            }

            #[test]
            fn mx_verdicts_are_total_and_honest(values in mx_values()) {
                let ours = "inbound-smtp.us-east-1.amazonaws.com";
                let verdict = judge_mx(ours, &values);
                prop_assert!(consistent(&verdict));
                if verdict.status.is_verified() {
                    let hosts: Vec<(u16, String)> = values
                        .iter()
                        .filter_map(|v| match v {
                            Value::Mx { preference, host } => {
                                Some((*preference, normalise_host(host)))
                            }
                            Value::Txt(_) => None,
                        })
                        .collect();
                    let best = hosts.iter().map(|(p, _)| *p).min().unwrap();
                    // Every host at the best preference is ours.
                    prop_assert!(hosts.iter().filter(|(p, _)| *p == best).all(|(_, h)| h == ours));
                }
            }

            #[test]
            fn tag_lists_round_trip(
                tags in proptest::collection::btree_map("[a-z][a-z0-9_]{0,6}", "[!-:<-~]{0,20}", 1..6),
                trailing in any::<bool>(),
                space in "[ \t]{0,2}",
            ) {
                let mut text = tags
                    .iter()
                    .map(|(n, v)| format!("{space}{n}{space}={space}{v}{space}"))
                    .collect::<Vec<_>>()
                    .join(";");
                if trailing {
                    text.push(';');
                }
                let parsed = tag_list(text.as_bytes()).expect("a valid tag list");
                let parsed: Vec<(String, String)> = parsed
                    .into_iter()
                    .map(|(n, v)| {
                        (String::from_utf8_lossy(n).into(), String::from_utf8_lossy(v).into())
                    })
                    .collect();
                let expected: Vec<(String, String)> = tags.into_iter().collect();
                prop_assert_eq!(parsed, expected);
            }
        }
    }
}
