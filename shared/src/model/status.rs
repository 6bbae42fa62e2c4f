use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a domain is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Active,
    Suspended,
    Failed,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Pending,
        Status::Active,
        Status::Suspended,
        Status::Failed,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::Failed => "failed",
        }
    }

    /// The status a user's `PATCH {"status": requested}` leads to, or `None` when the state
    /// machine forbids it. Resuming a suspended domain that never passed verification sends
    /// it back to `pending` rather than making it active unchecked.
    pub fn on_request(self, requested: Status, verified_before: bool) -> Option<Status> {
        use Status::*;
        match (self, requested) {
            (Active | Pending, Suspended) => Some(Suspended),
            (Suspended, Active) => Some(if verified_before { Active } else { Pending }),
            (Failed, Pending) => Some(Pending),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::Status::{self, *};

    #[test]
    fn transitions_of_the_contract() {
        let allowed = [
            (Active, Suspended, false, Suspended),
            (Pending, Suspended, false, Suspended),
            (Suspended, Active, true, Active),
            (Suspended, Active, false, Pending),
            (Failed, Pending, false, Pending),
        ];
        for (from, to, verified, expect) in allowed {
            assert_eq!(from.on_request(to, verified), Some(expect), "{from}->{to}");
        }
        let mut forbidden = 0;
        for from in Status::ALL {
            for to in Status::ALL {
                let listed = allowed.iter().any(|(f, t, _, _)| *f == from && *t == to);
                if !listed {
                    assert_eq!(from.on_request(to, true), None, "{from}->{to}");
                    forbidden += 1;
                }
            }
        }
        assert_eq!(forbidden, 12);
    }

    #[test]
    fn parses_only_known_names() {
        assert_eq!("failed".parse::<Status>(), Ok(Failed));
        assert!("Active".parse::<Status>().is_err());
    }
}
