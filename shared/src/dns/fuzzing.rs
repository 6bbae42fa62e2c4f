//! Entry points of the fuzz targets (`fuzz/fuzz_targets/`), here so that `cargo test`
//! replays their corpus through the very same code (`shared/tests/fuzz_corpus.rs`).

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};

use super::lookup::{Answer, read_answer};
use super::rules::{Value, judge_dkim, judge_dmarc, judge_mx, judge_ownership, judge_spf};

/// Every rule over the TXT values in `data` (one value per line, bytes as they come).
pub fn txt_rules(data: &[u8]) {
    let values: Vec<Value> = data
        .split(|b| *b == b'\n')
        .map(|line| Value::Txt(line.to_vec()))
        .collect();
    for verdict in [
        judge_spf(&values),
        judge_dmarc(&values),
        judge_dkim("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", &values),
        judge_ownership("token", &values),
        judge_mx("inbound-smtp.us-east-1.amazonaws.com", &values),
    ] {
        assert_eq!(verdict.reason.is_none(), verdict.status.is_verified());
    }
    for value in &values {
        assert!(value.display().len() <= super::rules::FOUND_BYTES);
    }
}

/// A DNS message from the wire, read as the answer of a zone's server to each question a
/// check asks.
pub fn dns_answer(data: &[u8]) {
    let Ok(message) = Message::from_vec(data) else {
        return;
    };
    let zone = Name::from_ascii("yourcompany.example.").expect("valid name");
    for (name, record_type) in [
        ("yourcompany.example.", RecordType::MX),
        ("_amazonses.yourcompany.example.", RecordType::TXT),
        ("dkim._domainkey.yourcompany.example.", RecordType::TXT),
    ] {
        let name = Name::from_ascii(name).expect("valid name");
        match read_answer(&message, &zone, &name, record_type) {
            Answer::Final(_) | Answer::Cname(_) => {}
            Answer::Referral { apex, .. } => assert!(zone.zone_of(&apex) && apex != zone),
        }
    }
}
