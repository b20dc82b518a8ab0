//! Consumer groups: partitions split between the members interested in them, committed
//! offsets that outlive the members.

use super::*;

/// A consumer group: partitions are split between the members interested in them, and
/// committed offsets outlive the members (as Kafka keeps them).
pub(super) struct Group {
    pub(super) state: Mutex<GroupState>,
    /// Bumped when the assignment changes; members then re-read theirs.
    pub(super) generation: watch::Sender<u64>,
}

#[derive(Default)]
pub(super) struct GroupState {
    pub(super) members: BTreeMap<u64, SubscribeSpec>,
    pub(super) assignment: HashMap<u64, BTreeSet<Tp>>,
    pub(super) committed: HashMap<Tp, i64>,
    /// Delivered messages awaiting their ack, per partition (`acks`).
    pub(super) outstanding: HashMap<Tp, super::acks::Outstanding>,
    /// Since when the group has had no members.
    pub(super) idle_since: Option<std::time::Instant>,
}

impl Group {
    /// Recomputes the assignment: each partition goes to the interested member with the fewest
    /// partitions so far (lowest id on ties), which is balanced and deterministic.
    pub(super) fn rebalance(&self, broker: &Broker) {
        let mut st = lock(&self.state);
        let mut wanted: BTreeMap<Tp, Vec<u64>> = BTreeMap::new();
        for (id, spec) in &st.members {
            for tp in broker.matching(spec) {
                wanted.entry(tp).or_default().push(*id);
            }
        }
        let mut next: HashMap<u64, BTreeSet<Tp>> =
            st.members.keys().map(|id| (*id, BTreeSet::new())).collect();
        for (tp, candidates) in wanted {
            let chosen = candidates
                .iter()
                .min_by_key(|id| (next.get(id).map_or(0, BTreeSet::len), **id))
                .copied();
            if let Some(id) = chosen {
                next.entry(id).or_default().insert(tp);
            }
        }
        if next != st.assignment {
            st.assignment = next;
            drop(st);
            self.generation.send_modify(|g| *g += 1);
        }
    }

    pub(super) fn assigned(&self, member: u64) -> BTreeSet<Tp> {
        lock(&self.state)
            .assignment
            .get(&member)
            .cloned()
            .unwrap_or_default()
    }

    pub(super) fn committed(&self, tp: &Tp) -> Option<i64> {
        lock(&self.state).committed.get(tp).copied()
    }
}

/// Leaves the group when the subscription's task ends, however it ends.
pub(super) struct Membership {
    pub(super) group: Arc<Group>,
    pub(super) id: u64,
    pub(super) broker: Arc<Broker>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        {
            let mut st = lock(&self.group.state);
            st.members.remove(&self.id);
            st.assignment.remove(&self.id);
            if st.members.is_empty() {
                st.idle_since = Some(std::time::Instant::now());
            }
        }
        self.group.rebalance(&self.broker);
    }
}
