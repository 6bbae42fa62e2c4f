//! A reservation's effects as the table stores them: one JSON attribute, so a registration
//! that died can be undone by whoever finds it.

use serde::{Deserialize, Serialize};

use super::Effect;
use crate::model::{MailFrom, NextDkim, OrgId, Region, RetiredDkim, VerificationSetup, ZoneId};

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
enum Stored {
    Identity {
        region: String,
        org: String,
    },
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
            Effect::Identity { region, org } => Stored::Identity {
                region: region.to_string(),
                org: org.to_string(),
            },
            Effect::Records {
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

/// `None` if the text is not what [`encode`] writes.
pub fn decode(text: &str) -> Option<Vec<Effect>> {
    let stored: Vec<Stored> = serde_json::from_str(text).ok()?;
    stored
        .into_iter()
        .map(|effect| {
            Some(match effect {
                Stored::Identity { region, org } => Effect::Identity {
                    region: Region::parse(&region)?,
                    org: OrgId::parse(&org)?,
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
                } => Effect::Records {
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
                    }),
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_round_trip_and_garbage_is_refused() {
        let effects = vec![
            Effect::Identity {
                region: Region::DEFAULT,
                org: OrgId::parse("org_a").unwrap(),
            },
            Effect::Records {
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
                }),
            },
        ];
        assert_eq!(decode(&encode(&effects)), Some(effects.clone()));
        // A sealed key is never copied into what an undo remembers.
        let mut sealed = effects;
        if let Effect::Records { setup, .. } = &mut sealed[1] {
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
        match decode(older).as_deref() {
            Some([Effect::Records { setup, .. }]) => assert_eq!(setup.mail_from, None),
            other => panic!("{other:?}"),
        }
        assert_eq!(decode("[]"), Some(Vec::new()));
        for garbage in [
            "",
            "{}",
            r#"[{"kind":"identity","region":"mars-1","org":"org_a"}]"#,
            r#"[{"kind":"identity","region":"us-east-1","org":"a#b"}]"#,
            r#"[{"kind":"other"}]"#,
            r#"[{"kind":"records","zone":"Z1","region":"us-east-1","ownershipToken":"t","dkimSelector":"s","dkimPublicKey":"k","mailFrom":"a.b"}]"#,
        ] {
            assert_eq!(decode(garbage), None, "{garbage}");
        }
    }
}
