//! The order a batch of work is taken in when organizations share it (the sweep's due
//! domains, the webhook deliverer's due retries): organizations in turn, and none with
//! more than its share of the concurrency in flight while another organization's work
//! waits. An organization that is the only one with work left uses every free slot (the
//! share bounds what one takes from the others; alone, it takes nothing from anyone).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use crate::model::OrgId;

pub(crate) struct FairQueue<T> {
    /// Each organization's work, organizations in the order they first appear.
    queues: Vec<(OrgId, VecDeque<T>)>,
    in_flight: HashMap<OrgId, usize>,
    per_org: usize,
    /// Where the next turn starts.
    turn: usize,
}

impl<T> FairQueue<T> {
    pub(crate) fn new(
        work: impl IntoIterator<Item = (OrgId, T)>,
        concurrency: usize,
        share_percent: usize,
    ) -> Self {
        let concurrency = concurrency.max(1);
        let mut queues: Vec<(OrgId, VecDeque<T>)> = Vec::new();
        let mut index: HashMap<OrgId, usize> = HashMap::new();
        for (org, item) in work {
            let at = *index.entry(org.clone()).or_insert_with(|| {
                queues.push((org, VecDeque::new()));
                queues.len() - 1
            });
            queues[at].1.push_back(item);
        }
        Self {
            queues,
            in_flight: HashMap::new(),
            per_org: (concurrency * share_percent / 100).clamp(1, concurrency),
            turn: 0,
        }
    }

    /// The next piece of work to start, or `None` while every organization with work left
    /// is at its share (or none has any).
    pub(crate) fn next(&mut self) -> Option<(OrgId, T)> {
        let count = self.queues.len();
        let under_share = |org: &OrgId, in_flight: &HashMap<OrgId, usize>| {
            in_flight.get(org).copied().unwrap_or(0) < self.per_org
        };
        let pick = (0..count)
            .map(|step| (self.turn + step) % count)
            .find(|at| {
                let (org, queue) = &self.queues[*at];
                !queue.is_empty() && under_share(org, &self.in_flight)
            })
            .or_else(|| {
                let mut waiting = (0..count).filter(|at| !self.queues[*at].1.is_empty());
                match (waiting.next(), waiting.next()) {
                    (Some(only), None) => Some(only),
                    _ => None,
                }
            })?;
        let (org, queue) = &mut self.queues[pick];
        let item = queue.pop_front()?;
        *self.in_flight.entry(org.clone()).or_default() += 1;
        self.turn = (pick + 1) % count;
        Some((org.clone(), item))
    }

    /// `org`'s piece of work started by [`FairQueue::next`] has finished.
    pub(crate) fn done(&mut self, org: &OrgId) {
        if let Some(n) = self.in_flight.get_mut(org) {
            *n = n.saturating_sub(1);
        }
    }
}

/// At most `limit` of `items` (oldest first), taken from their owners (by `owner`) in
/// turns, oldest first within each: one owner with a long backlog gets every place while no
/// other has anything waiting, and no more than its turn while others do.
pub(crate) fn in_turns<T, K: Eq + Hash>(
    items: Vec<T>,
    owner: impl Fn(&T) -> K,
    limit: usize,
) -> Vec<T> {
    let mut queues: Vec<VecDeque<T>> = Vec::new();
    let mut index: HashMap<K, usize> = HashMap::new();
    for item in items {
        let at = *index.entry(owner(&item)).or_insert_with(|| {
            queues.push(VecDeque::new());
            queues.len() - 1
        });
        queues[at].push_back(item);
    }
    let mut taken = Vec::with_capacity(limit.min(queues.iter().map(VecDeque::len).sum()));
    while taken.len() < limit {
        let before = taken.len();
        for queue in &mut queues {
            if taken.len() == limit {
                break;
            }
            if let Some(item) = queue.pop_front() {
                taken.push(item);
            }
        }
        if taken.len() == before {
            break;
        }
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(org: &str, n: usize) -> Vec<(OrgId, usize)> {
        (0..n).map(|i| (OrgId::parse(org).unwrap(), i)).collect()
    }

    fn orgs_of(queue: &mut FairQueue<usize>) -> Vec<String> {
        std::iter::from_fn(|| queue.next())
            .map(|(org, _)| org.to_string())
            .collect()
    }

    #[test]
    fn one_organization_takes_its_share_while_others_wait() {
        let mut all = work("org_hostile", 100);
        all.extend(work("org_good", 3));
        let mut queue = FairQueue::new(all, 8, 25);
        // Two each (25% of 8), in turn; then nobody while both are at their share.
        assert_eq!(
            orgs_of(&mut queue),
            ["org_hostile", "org_good", "org_hostile", "org_good"]
        );
        queue.done(&OrgId::parse("org_good").unwrap());
        let (org, _) = queue.next().unwrap();
        assert_eq!(org.as_str(), "org_good");
        // The good organization has nothing left: the other may use every free slot.
        assert_eq!(orgs_of(&mut queue).len(), 98);
    }

    #[test]
    fn each_organization_keeps_its_own_order() {
        let mut all = work("org_a", 3);
        all.extend(work("org_b", 2));
        let mut queue = FairQueue::new(all, 1, 100);
        let mut taken = Vec::new();
        while let Some((org, item)) = queue.next() {
            taken.push(format!("{org}:{item}"));
            queue.done(&org);
        }
        assert_eq!(
            taken,
            ["org_a:0", "org_b:0", "org_a:1", "org_b:1", "org_a:2"]
        );
    }

    #[test]
    fn owners_take_places_in_turns() {
        // (owner, due): a long backlog of `h` that is older than everything of `a` and `b`.
        let mut items: Vec<(char, u32)> = (0..50).map(|n| ('h', n)).collect();
        items.extend([('a', 60), ('b', 61), ('a', 62)]);
        let taken = in_turns(items.clone(), |i| i.0, 6);
        assert_eq!(
            taken,
            [
                ('h', 0),
                ('a', 60),
                ('b', 61),
                ('h', 1),
                ('a', 62),
                ('h', 2)
            ]
        );
        // Alone, the backlog takes every place.
        let alone: Vec<(char, u32)> = items.into_iter().filter(|i| i.0 == 'h').collect();
        assert_eq!(in_turns(alone, |i| i.0, 10).len(), 10);
        assert!(in_turns(Vec::<(char, u32)>::new(), |i| i.0, 10).is_empty());
    }
}
