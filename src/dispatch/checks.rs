//! What a command names and needs, declared once per command (`Command::names`,
//! `Command::needs`) and enforced here, the same way for every command, before its handler runs:
//! topic and partition syntax (the scheme's rules for the use), the identity's ACLs, and the
//! route's capabilities (a capability error names the route's scheme).

use std::borrow::Cow;

use super::Dispatcher;
use crate::backend::{Capabilities, TopicUse};
use crate::error::{GatewayError, Result};
use crate::pb::{KafkaPartitionOffset, MessagePosition};

/// The subscription, topics and group a command names.
pub(super) struct Names<'a> {
    /// A subscription of the connection the command acts on: an unknown one answers 404
    /// before anything else is checked.
    pub subscription: Option<i64>,
    pub topics: Topics<'a>,
    /// A consumer group the command joins: the identity's group ACL applies.
    pub group: Option<&'a str>,
}

/// The topics a command names, with what it does with them.
pub(super) enum Topics<'a> {
    None,
    /// Written to: the scheme's publish syntax and the write ACL.
    Publish(&'a str),
    /// Subscribed to: the scheme's subscribe syntax (wildcards where it has them) and the read
    /// ACL.
    Subscribe(&'a str),
    /// A topic read as a whole (metadata): the read syntax and ACL.
    Topic(&'a str),
    /// A partition read: the read syntax, a partition number and the read ACL.
    Partition(&'a str, i32),
    /// Delivered messages acknowledged: each as a partition read.
    Positions(&'a [MessagePosition]),
    /// Offsets committed: each as a partition read.
    Offsets(&'a [KafkaPartitionOffset]),
}

impl<'a> Names<'a> {
    pub fn none() -> Names<'a> {
        Names::topics(Topics::None)
    }

    pub fn topics(topics: Topics<'a>) -> Names<'a> {
        Names {
            subscription: None,
            topics,
            group: None,
        }
    }

    /// What a command on subscription `id` names.
    pub fn subscription(id: i64, topics: Topics<'a>) -> Names<'a> {
        Names {
            subscription: Some(id),
            ..Names::topics(topics)
        }
    }
}

/// What one command names, and the first capability it needs that the route lacks.
pub(super) struct Checks<'a> {
    pub names: Names<'a>,
    pub missing: Option<Missing>,
    /// Why the request is malformed (answered 400 before anything else is checked).
    pub invalid: Option<String>,
}

impl<'a> Checks<'a> {
    /// Names nothing, needs nothing.
    pub fn none() -> Checks<'a> {
        Checks::of(Names::none())
    }

    /// Names `names`, needs nothing (so far).
    pub fn of(names: Names<'a>) -> Checks<'a> {
        Checks {
            names,
            missing: None,
            invalid: None,
        }
    }

    /// Refused as malformed (400, `why()`), when `when`.
    pub fn refuse(mut self, when: bool, why: impl FnOnce() -> String) -> Checks<'a> {
        if self.invalid.is_none() && when {
            self.invalid = Some(why());
        }
        self
    }

    /// Names `topics`, needs nothing (so far).
    pub fn topics(topics: Topics<'a>) -> Checks<'a> {
        Checks::of(Names::topics(topics))
    }

    /// Also needs a capability (`has`: whether the route has it), when `when`.
    pub fn needs(
        mut self,
        when: bool,
        has: bool,
        what: impl Into<Cow<'static, str>>,
        capability: &'static str,
    ) -> Checks<'a> {
        if self.missing.is_none() && when && !has {
            self.missing = Some(Missing {
                what: what.into(),
                capability,
            });
        }
        self
    }
}

/// A capability a command needs and the route lacks: what asked for it, and its name.
pub(super) struct Missing {
    pub what: Cow<'static, str>,
    pub capability: &'static str,
}

/// Partitions are numbered from 0 on every scheme.
fn validate_partition(partition: i32) -> Result<()> {
    if partition < 0 {
        return Err(GatewayError::BadRequest(format!(
            "invalid partition {partition}"
        )));
    }
    Ok(())
}

impl Dispatcher {
    /// Every name a command carries, before any backend sees it.
    pub(super) fn check_names(&self, names: &Names<'_>) -> Result<()> {
        if let Some(id) = names.subscription {
            self.open(id)?;
        }
        match names.topics {
            Topics::None => {}
            Topics::Publish(topic) => {
                self.check_topic(topic, TopicUse::Publish)?;
                if !self.identity.borrow().can_write(topic) {
                    return Err(GatewayError::Forbidden(format!(
                        "write access to topic {topic} denied"
                    )));
                }
            }
            Topics::Subscribe(topic) => {
                self.check_topic(topic, TopicUse::Subscribe)?;
                self.read_allowed(topic)?;
            }
            Topics::Topic(topic) => {
                self.check_topic(topic, TopicUse::Read)?;
                self.read_allowed(topic)?;
            }
            Topics::Partition(topic, partition) => self.check_read(topic, partition)?,
            Topics::Positions(positions) => {
                for p in positions {
                    self.check_read(&p.topic, p.partition)?;
                }
            }
            Topics::Offsets(offsets) => {
                for o in offsets {
                    self.check_read(&o.topic, o.partition)?;
                }
            }
        }
        if let Some(group) = names.group {
            self.join_allowed(group)?;
        }
        Ok(())
    }

    pub(super) fn caps(&self) -> &Capabilities {
        self.backend.capabilities()
    }

    /// "start EARLIEST needs history; route /chat is core NATS, which has none".
    pub(super) fn unsupported(&self, missing: Missing) -> GatewayError {
        let caps = self.caps();
        let scheme: &str = if caps.description.is_empty() {
            self.backend.scheme()
        } else {
            &caps.description
        };
        GatewayError::Unsupported(format!(
            "{} needs {}; route {} is {scheme}, which has none",
            missing.what, missing.capability, self.route
        ))
    }

    /// A partition read or acknowledged: its name in the scheme's syntax, a partition number,
    /// and the identity's read ACL.
    fn check_read(&self, topic: &str, partition: i32) -> Result<()> {
        self.check_topic(topic, TopicUse::Read)?;
        validate_partition(partition)?;
        self.read_allowed(topic)
    }

    fn check_topic(&self, topic: &str, usage: TopicUse) -> Result<()> {
        self.backend.validate_topic(topic, usage)
    }

    pub(super) fn join_allowed(&self, group: &str) -> Result<()> {
        match self.identity().join_denied(group) {
            None => Ok(()),
            Some(why) => Err(GatewayError::Forbidden(why)),
        }
    }

    fn read_allowed(&self, topic: &str) -> Result<()> {
        if self.identity().can_read(topic) {
            Ok(())
        } else {
            Err(GatewayError::Forbidden(format!(
                "read access to topic {topic} denied"
            )))
        }
    }
}
