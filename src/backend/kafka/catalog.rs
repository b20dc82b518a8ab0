//! One metadata refresh per upstream for every pattern subscription.

use super::*;

/// Every topic of the cluster, as one metadata request saw it.
pub(super) struct Catalog {
    pub(super) topics: Vec<TopicInfo>,
}

pub(super) struct TopicInfo {
    pub(super) name: Arc<str>,
    /// The broker reported an error for the topic (it may be transient).
    pub(super) failed: bool,
    pub(super) partitions: Vec<i32>,
}

pub(super) fn topic_infos(md: &rdkafka::metadata::Metadata) -> Vec<TopicInfo> {
    md.topics()
        .iter()
        .map(|t| TopicInfo {
            name: Arc::from(t.name()),
            failed: t.error().is_some(),
            partitions: t.partitions().iter().map(|p| p.id()).collect(),
        })
        .collect()
}

/// What a subscription covers in one metadata view.
pub(super) struct Matched {
    pub(super) tps: BTreeSet<Tp>,
    /// Matching topics whose metadata had an error: they are not new, and when they come back
    /// they start where the subscription says, not at their first message.
    pub(super) failed: BTreeSet<Arc<str>>,
}

pub(super) fn select_topics(topics: &[TopicInfo], spec: &SubscribeSpec) -> Result<Matched> {
    let mut out = Matched {
        tps: BTreeSet::new(),
        failed: BTreeSet::new(),
    };
    for t in topics {
        if !spec.matches_topic(&t.name) || t.name.starts_with("__") {
            continue;
        }
        if t.failed {
            if matches!(spec.target, Target::Topic(_)) {
                return Err(GatewayError::UnknownTopicOrPartition);
            }
            out.failed.insert(t.name.clone());
            continue;
        }
        for p in &t.partitions {
            if spec.wants_partition(*p) {
                out.tps.insert((t.name.clone(), *p));
            }
        }
        if let (Target::Topic(_), Some(missing)) = (
            &spec.target,
            spec.partitions.iter().find(|p| !t.partitions.contains(p)),
        ) {
            return Err(GatewayError::BadRequest(format!(
                "topic {} has no partition {missing}",
                t.name
            )));
        }
    }
    Ok(out)
}

/// The upstream's one metadata refresh for all its pattern subscriptions; idle while there
/// are none. Holds the upstream weakly, so it never keeps a dropped backend's clients alive.
pub(super) async fn catalog_loop(
    inner: std::sync::Weak<Inner>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(inner) = inner.upgrade() else { return };
        if inner.catalog.receiver_count() == 0 {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = inner.refresh_catalog() => if let Err(e) = r {
                tracing::debug!(error = %e, "topic metadata refresh failed");
            },
        }
    }
}
