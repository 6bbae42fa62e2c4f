//! How many queries a check may send. A zone's servers decide how far a check is sent
//! around (CNAMEs, delegations, servers that disagree); without a cap, one verify of a
//! hostile zone sent tens of thousands of queries, many of them to whatever addresses the
//! zone named. Every query a check sends, to the resolver or to an authoritative server,
//! resends included, is paid for from its record's budget and from the verify's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Queries one check of one record may send.
pub const RECORD_QUERIES: usize = 64;
/// Queries one verify (all of a domain's records) may send.
pub const VERIFY_QUERIES: usize = 256;

#[derive(Debug)]
struct Counter {
    used: AtomicUsize,
    limit: usize,
}

impl Counter {
    fn new(limit: usize) -> Self {
        Self {
            used: AtomicUsize::new(0),
            limit,
        }
    }

    fn take(&self) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used < self.limit).then_some(used + 1)
            })
            .is_ok()
    }

    fn give_back(&self) {
        self.used.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The queries a verify may still send, shared by the checks of its records.
#[derive(Debug, Clone)]
pub struct VerifyBudget(Arc<Counter>);

impl VerifyBudget {
    pub fn new(limit: usize) -> Self {
        Self(Arc::new(Counter::new(limit)))
    }

    /// Queries sent so far.
    pub fn used(&self) -> usize {
        self.0.used.load(Ordering::Acquire)
    }

    /// The budget of one record's check within this verify.
    pub fn record(&self, limit: usize) -> Budget {
        Budget {
            verify: self.clone(),
            record: Counter::new(limit),
            denied: AtomicBool::new(false),
        }
    }
}

impl Default for VerifyBudget {
    fn default() -> Self {
        Self::new(VERIFY_QUERIES)
    }
}

/// The queries one record's check may still send.
#[derive(Debug)]
pub struct Budget {
    verify: VerifyBudget,
    record: Counter,
    /// A query was refused for want of budget: the check is incomplete.
    denied: AtomicBool,
}

impl Budget {
    /// A record checked on its own (a claim's challenge): both limits apply.
    pub fn single() -> Self {
        VerifyBudget::default().record(RECORD_QUERIES)
    }

    /// Pays for one query, or says which budget is spent.
    pub fn spend(&self) -> Result<(), String> {
        if !self.record.take() {
            self.denied.store(true, Ordering::Release);
            return Err(format!(
                "the check of this record sent its {} queries",
                self.record.limit
            ));
        }
        if !self.verify.0.take() {
            self.record.give_back();
            self.denied.store(true, Ordering::Release);
            return Err(format!(
                "the check of this domain sent its {} queries",
                self.verify.0.limit
            ));
        }
        Ok(())
    }

    /// Queries this record's check sent.
    pub fn used(&self) -> usize {
        self.record.used.load(Ordering::Acquire)
    }

    /// Why the check is incomplete, if a query was refused.
    pub fn exhausted(&self) -> Option<String> {
        self.denied.load(Ordering::Acquire).then(|| {
            format!(
                "the query budget is spent ({} queries for this record, at most {} per \
                 record and {} per domain): its name servers send the check further than \
                 it follows (CNAMEs, delegations or servers that disagree)",
                self.used(),
                self.record.limit,
                self.verify.0.limit
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_stops_at_its_limit_and_a_verify_at_its_own() {
        let verify = VerifyBudget::new(5);
        let first = verify.record(3);
        assert!((0..3).all(|_| first.spend().is_ok()));
        assert!(first.spend().unwrap_err().contains("3 queries"));
        assert!(first.exhausted().is_some());
        let second = verify.record(3);
        assert!(second.spend().is_ok() && second.spend().is_ok());
        assert!(second.spend().unwrap_err().contains("5 queries"));
        assert_eq!((verify.used(), second.used()), (5, 2));
        let third = verify.record(3);
        assert!(third.exhausted().is_none());
    }
}
