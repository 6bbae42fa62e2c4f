//! A domain's records as a zone-file fragment (the master file format of RFC 1035 §5), which
//! every DNS host imports and every zone parser reads: `GET /:id/zonefile`.

use crate::dns::plan::records_for;
use crate::model::{Domain, Purpose, RecordKind};

/// Five minutes, as `autoConfigureDns` writes them: a mistake corrected at the DNS host
/// reaches resolvers soon, and none of these records is looked up often enough for the TTL
/// to matter to anyone's load.
pub const TTL: u32 = 300;

/// The fragment: a comment naming the domain, then one line per record with absolute
/// owner names, so it means the same whatever `$ORIGIN` the importer assumes.
pub fn render(domain: &Domain) -> String {
    let mut text = format!(
        "; DNS records of {name} ({id}, SES region {region}).\n\
         ; Import into the zone of {name} at your DNS host; names are absolute.\n\
         ; Required records are marked; {name} turns active once they verify.\n",
        name = domain.name,
        id = domain.id,
        region = domain.region,
    );
    // A retired DKIM key's record is left out: an import must not publish it again.
    for record in records_for(domain)
        .into_iter()
        .filter(|record| record.kind != RecordKind::DkimRetired)
    {
        let data = match record.record_type {
            "TXT" => txt_strings(&record.value),
            // The exchange host is absolute: without the dot, an importer appends the zone.
            _ => format!("{}.", record.value.trim_end_matches('.')),
        };
        text.push_str(&format!(
            "{owner}.\t{TTL}\tIN\t{kind}\t{data}\t; {purpose}{required}\n",
            owner = record.name,
            kind = record.record_type,
            purpose = purpose(record.purpose),
            required = match record.kind {
                _ if record.required => ", required",
                RecordKind::DkimNext => ", the new key of a DKIM rotation",
                _ => "",
            },
        ));
    }
    text
}

/// TXT data as quoted character-strings of at most 255 octets each (a 2048-bit DKIM key
/// needs two): `"` and `\` escaped with a backslash, any octet outside printable ASCII as
/// `\DDD`. The form zone files and Route 53 both take, and it keeps every octet as it was.
pub fn txt_strings(value: &str) -> String {
    if value.is_empty() {
        return "\"\"".into();
    }
    value
        .as_bytes()
        .chunks(255)
        .map(|chunk| {
            let mut quoted = String::with_capacity(chunk.len() + 2);
            quoted.push('"');
            for &octet in chunk {
                match octet {
                    b'"' | b'\\' => {
                        quoted.push('\\');
                        quoted.push(char::from(octet));
                    }
                    b' '..=b'~' => quoted.push(char::from(octet)),
                    _ => quoted.push_str(&format!("\\{octet:03}")),
                }
            }
            quoted.push('"');
            quoted
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn purpose(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Ownership => "ownership",
        Purpose::Receiving => "receiving",
        Purpose::Sending => "sending",
        Purpose::MailFrom => "MAIL FROM",
        Purpose::Policy => "policy",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_split_at_255_octets_and_quotes_are_escaped() {
        let long = "a".repeat(300);
        assert_eq!(
            txt_strings(&long),
            format!("\"{}\" \"{}\"", "a".repeat(255), "a".repeat(45))
        );
        assert_eq!(txt_strings(r#"say "hi" \ bye"#), r#""say \"hi\" \\ bye""#);
        assert_eq!(txt_strings(""), "\"\"");
        assert_eq!(txt_strings("é\t"), "\"\\195\\169\\009\"");
    }
}
