//! A domain's status (pending, active, suspended, failed), the moves a caller may ask for,
//! and counts by status.

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

/// How many of an organization's domains are in each status: what lists report as `total`
/// and `counts`, kept by the stores in the same step as each change they count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatusCounts {
    pub pending: u64,
    pub active: u64,
    pub suspended: u64,
    pub failed: u64,
}

impl StatusCounts {
    pub fn get(&self, status: Status) -> u64 {
        match status {
            Status::Pending => self.pending,
            Status::Active => self.active,
            Status::Suspended => self.suspended,
            Status::Failed => self.failed,
        }
    }

    pub fn get_mut(&mut self, status: Status) -> &mut u64 {
        match status {
            Status::Pending => &mut self.pending,
            Status::Active => &mut self.active,
            Status::Suspended => &mut self.suspended,
            Status::Failed => &mut self.failed,
        }
    }

    pub fn total(&self) -> u64 {
        Status::ALL.into_iter().map(|s| self.get(s)).sum()
    }

    /// The counts of these statuses.
    pub fn of(statuses: impl IntoIterator<Item = Status>) -> Self {
        let mut counts = Self::default();
        for status in statuses {
            *counts.get_mut(status) += 1;
        }
        counts
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
