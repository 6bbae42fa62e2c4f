//! `domainctl orgs counts`: organizations' counters against a count of their domains.

use domains::model::{OrgId, Status};
use domains::store::{Recount, Store};

/// Recounts each organization, prints one line for each, and returns how many had counts
/// that differed from their domains (repaired too, with `repair`).
pub async fn check(store: &dyn Store, orgs: &[OrgId], repair: bool) -> Result<usize, String> {
    let mut drifted = 0;
    for org in orgs {
        let recount = store
            .recount(org, repair)
            .await
            .map_err(|e| format!("{org}: {e}"))?;
        if recount.drifted() {
            drifted += 1;
        }
        println!("{org}: {}", describe(&recount));
    }
    Ok(drifted)
}

/// `ok (3 domains: 2 pending, 1 active)`, or what differs and whether it was repaired.
pub fn describe(recount: &Recount) -> String {
    let counted = Status::ALL
        .into_iter()
        .filter(|s| recount.counted.get(*s) > 0)
        .map(|s| format!("{} {s}", recount.counted.get(s)))
        .collect::<Vec<_>>()
        .join(", ");
    let summary = format!("{} domains: {counted}", recount.counted.total());
    if !recount.drifted() {
        return format!("ok ({summary})");
    }
    let mut differences: Vec<String> = Status::ALL
        .into_iter()
        .filter(|s| recount.stored.get(*s) != recount.counted.get(*s))
        .map(|s| {
            format!(
                "{s} counter {} (counted {})",
                recount.stored.get(s),
                recount.counted.get(s)
            )
        })
        .collect();
    if recount.stored_held != recount.counted.total() {
        differences.push(format!(
            "quota counter {} (counted {})",
            recount.stored_held,
            recount.counted.total()
        ));
    }
    if recount.negative {
        differences.push("a counter below zero".into());
    }
    if recount.unindexed > 0 {
        differences.push(format!("{} not in the status index", recount.unindexed));
    }
    let outcome = if recount.repaired {
        "repaired"
    } else {
        "DIFFERS"
    };
    format!("{outcome}: {} ({summary})", differences.join("; "))
}
