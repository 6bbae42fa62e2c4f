//! A reservation's effects as the table stores them: one JSON attribute, so a registration
//! that died can be undone by whoever finds it.

use serde::{Deserialize, Serialize};

use super::Effect;
use crate::model::{MailFrom, OrgId, Region, VerificationSetup, ZoneId};

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
                } => Effect::Records {
                    zone: ZoneId::parse(&zone)?,
                    region: Region::parse(&region)?,
                    setup: VerificationSetup {
                        ownership_token,
                        dkim_selector,
                        dkim_public_key,
                        mail_from: match mail_from {
                            None => None,
                            Some(label) => Some(MailFrom::parse(&label).ok()?),
                        },
                    },
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
                setup: VerificationSetup {
                    ownership_token: "t".into(),
                    dkim_selector: "s".into(),
                    dkim_public_key: "k".into(),
                    mail_from: Some(MailFrom::parse("bounce").unwrap()),
                },
            },
        ];
        assert_eq!(decode(&encode(&effects)), Some(effects));
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
