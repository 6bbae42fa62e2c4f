//! A reservation's effects as the table stores them: one JSON attribute, so a registration
//! that died can be undone by whoever finds it.

use serde::{Deserialize, Serialize};

use super::Effect;
use crate::model::{
    DomainId, MailFrom, NextDkim, Region, RetiredDkim, VerificationSetup, ZoneId, ZoneRecord,
};

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
enum Stored {
    #[serde(rename_all = "camelCase")]
    Identity {
        region: String,
        /// Written before identities were told apart by domain id; read, never used.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        org: Option<String>,
        /// Missing where written before that: the reservation's own domain.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        domain_id: Option<String>,
    },
    /// Record sets one by one, with the values written.
    ZoneRecords {
        zone: String,
        records: Vec<ZoneRecord>,
        confirmed: bool,
    },
    /// What a reservation written before the list above holds.
    #[serde(rename_all = "camelCase")]
    Records {
        zone: String,
        region: String,
        ownership_token: String,
        dkim_selector: String,
        dkim_public_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mail_from: Option<String>,
        /// Records of a rotation, for a claim's undo of the holder's records.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dkim_next: Option<Box<NextDkim>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dkim_retired: Option<Box<RetiredDkim>>,
    },
}

pub fn encode(effects: &[Effect]) -> String {
    let stored: Vec<Stored> = effects
        .iter()
        .map(|effect| match effect {
            Effect::Identity { region, domain_id } => Stored::Identity {
                region: region.to_string(),
                org: None,
                domain_id: Some(domain_id.to_string()),
            },
            Effect::Records {
                zone,
                records,
                confirmed,
            } => Stored::ZoneRecords {
                zone: zone.to_string(),
                records: records.clone(),
                confirmed: *confirmed,
            },
            Effect::SetupRecords {
                zone,
                region,
                setup,
            } => Stored::Records {
                zone: zone.to_string(),
                region: region.to_string(),
                ownership_token: setup.ownership_token.clone(),
                dkim_selector: setup.dkim_selector.clone(),
                dkim_public_key: setup.dkim_public_key.clone(),
                mail_from: setup.mail_from.as_ref().map(|m| m.to_string()),
                // An undo needs the record, never the sealed key.
                dkim_next: setup.dkim_next.clone().map(|next| {
                    Box::new(NextDkim {
                        sealed: None,
                        ..next
                    })
                }),
                dkim_retired: setup.dkim_retired.clone().map(Box::new),
            },
        })
        .collect();
    serde_json::to_string(&stored).expect("strings serialize")
}

/// `None` if the text is not what [`encode`] writes. `owner` is the domain an identity
/// written without its domain id belongs to, where that is known (a reservation's own
/// effects); where it is not (a claimed holder's leftovers written before ids were kept),
/// such an identity cannot be proven anyone's and is left out.
pub fn decode(text: &str, owner: Option<&DomainId>) -> Option<Vec<Effect>> {
    let stored: Vec<Stored> = serde_json::from_str(text).ok()?;
    let mut effects = Vec::new();
    for effect in stored {
        effects.push(match effect {
            Stored::Identity {
                region, domain_id, ..
            } => {
                let region = Region::parse(&region)?;
                let domain_id = match domain_id {
                    Some(id) => DomainId::parse(&id)?,
                    None => match owner {
                        Some(owner) => owner.clone(),
                        None => continue,
                    },
                };
                Effect::Identity { region, domain_id }
            }
            Stored::ZoneRecords {
                zone,
                records,
                confirmed,
            } => Effect::Records {
                zone: ZoneId::parse(&zone)?,
                records,
                confirmed,
            },
            Stored::Records {
                zone,
                region,
                ownership_token,
                dkim_selector,
                dkim_public_key,
                mail_from,
                dkim_next,
                dkim_retired,
            } => Effect::SetupRecords {
                zone: ZoneId::parse(&zone)?,
                region: Region::parse(&region)?,
                setup: Box::new(VerificationSetup {
                    ownership_token,
                    dkim_selector,
                    dkim_public_key,
                    mail_from: match mail_from {
                        None => None,
                        Some(label) => Some(MailFrom::parse(&label).ok()?),
                    },
                    dkim_next: dkim_next.map(|next| *next),
                    dkim_retired: dkim_retired.map(|retired| *retired),
                    zone_records: None,
                }),
            },
        });
    }
    Some(effects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> DomainId {
        DomainId::parse(text).unwrap()
    }

    #[test]
    fn effects_round_trip_and_garbage_is_refused() {
        let owner = id("dom_01HZZZZZZZZZZZZZZZZZZZZZZZ");
        let effects = vec![
            Effect::Identity {
                region: Region::DEFAULT,
                domain_id: owner.clone(),
            },
            Effect::Records {
                zone: ZoneId::parse("Z123").unwrap(),
                records: vec![ZoneRecord {
                    name: "a.example".into(),
                    record_type: "TXT".into(),
                    value: "v=spf1 include:amazonses.com ~all".into(),
                    retired_at: None,
                }],
                confirmed: false,
            },
            Effect::SetupRecords {
                zone: ZoneId::parse("Z123").unwrap(),
                region: Region::DEFAULT,
                setup: Box::new(VerificationSetup {
                    ownership_token: "t".into(),
                    dkim_selector: "s".into(),
                    dkim_public_key: "k".into(),
                    mail_from: Some(MailFrom::parse("bounce").unwrap()),
                    dkim_next: Some(NextDkim {
                        selector: "s2".into(),
                        public_key: "k2".into(),
                        sealed: None,
                        requested_at: crate::model::Timestamp::from_unix(0),
                    }),
                    dkim_retired: Some(RetiredDkim {
                        selector: "s0".into(),
                        public_key: "k0".into(),
                        retired_at: crate::model::Timestamp::from_unix(0),
                    }),
                    zone_records: None,
                }),
            },
        ];
        assert_eq!(decode(&encode(&effects), None), Some(effects.clone()));
        // A sealed key is never copied into what an undo remembers.
        let mut sealed = effects;
        if let Effect::SetupRecords { setup, .. } = &mut sealed[2] {
            setup.dkim_next.as_mut().unwrap().sealed = Some(crate::model::SealedKey {
                key_id: "arn:k".into(),
                data_key: "secret-data-key".into(),
                nonce: "n".into(),
                ciphertext: "secret-ciphertext".into(),
            });
        }
        let text = encode(&sealed);
        assert!(!text.contains("secret"), "{text}");
        // Written before custom MAIL FROM: no `mailFrom`, none to undo.
        let older = r#"[{"kind":"records","zone":"Z1","region":"us-east-1","ownershipToken":"t","dkimSelector":"s","dkimPublicKey":"k"}]"#;
        match decode(older, None).as_deref() {
            Some([Effect::SetupRecords { setup, .. }]) => assert_eq!(setup.mail_from, None),
            other => panic!("{other:?}"),
        }
        // Written before identities carried their domain id: the reservation's own domain
        // where that is known, and left out (not provably anyone's) where it is not.
        let legacy = r#"[{"kind":"identity","region":"us-east-1","org":"org_a"}]"#;
        assert_eq!(
            decode(legacy, Some(&owner)),
            Some(vec![Effect::Identity {
                region: Region::DEFAULT,
                domain_id: owner.clone()
            }])
        );
        assert_eq!(decode(legacy, None), Some(Vec::new()));
        assert_eq!(decode("[]", None), Some(Vec::new()));
        for garbage in [
            "",
            "{}",
            r#"[{"kind":"identity","region":"mars-1","domainId":"dom_01HZZZZZZZZZZZZZZZZZZZZZZZ"}]"#,
            r#"[{"kind":"identity","region":"us-east-1","domainId":"a#b"}]"#,
            r#"[{"kind":"other"}]"#,
            r#"[{"kind":"records","zone":"Z1","region":"us-east-1","ownershipToken":"t","dkimSelector":"s","dkimPublicKey":"k","mailFrom":"a.b"}]"#,
        ] {
            assert_eq!(decode(garbage, Some(&owner)), None, "{garbage}");
        }
    }
}
