//! Broker reachability as seen by one producer, as an explicit state machine.
//!
//! librdkafka reports every failed connect and every retry; logging each
//! would flood the log during an outage (and once per record is worse). This
//! machine turns that stream into one line when the link goes down, one when
//! it is refused for credentials, and one when deliveries resume, with the
//! number of error reports folded into it.

use std::time::{Duration, Instant};

use super::stats::FailClass;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// Nothing heard yet.
    Unknown,
    /// A delivery succeeded since the last error.
    Up,
    /// Brokers unreachable since `since`; `errors` reports folded.
    Down { since: Instant, errors: u64 },
    /// Brokers reject our credentials (or TLS); retried, but needs a human.
    Refused { since: Instant, errors: u64 },
}

/// What the caller should log, already deduplicated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// First transport error after Unknown or Up (warn).
    Unreachable { reason: String },
    /// First authentication error of an episode (error).
    Refused { reason: String },
    /// Deliveries resume after an outage (info).
    Recovered { after: Duration, errors: u64 },
}

#[derive(Debug)]
pub struct Health {
    link: Link,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            link: Link::Unknown,
        }
    }
}

impl Health {
    #[cfg(test)]
    pub fn link(&self) -> &Link {
        &self.link
    }

    pub fn is_refused(&self) -> bool {
        matches!(self.link, Link::Refused { .. })
    }

    pub fn is_impaired(&self) -> bool {
        matches!(self.link, Link::Down { .. } | Link::Refused { .. })
    }

    /// A client-level error (not tied to one record).
    pub fn on_error(&mut self, class: FailClass, reason: &str, now: Instant) -> Option<Notice> {
        let refused = class == FailClass::Auth;
        match (&mut self.link, refused) {
            (Link::Refused { errors, .. }, _) => {
                *errors += 1;
                None
            }
            (Link::Down { errors, since }, false) => {
                *errors += 1;
                let _ = since;
                None
            }
            (Link::Down { errors, since }, true) => {
                // Reached a broker but it refused us: that is the news now.
                self.link = Link::Refused {
                    since: *since,
                    errors: *errors + 1,
                };
                Some(Notice::Refused {
                    reason: reason.to_string(),
                })
            }
            (Link::Unknown | Link::Up, true) => {
                self.link = Link::Refused {
                    since: now,
                    errors: 1,
                };
                Some(Notice::Refused {
                    reason: reason.to_string(),
                })
            }
            (Link::Unknown | Link::Up, false) => {
                self.link = Link::Down {
                    since: now,
                    errors: 1,
                };
                Some(Notice::Unreachable {
                    reason: reason.to_string(),
                })
            }
        }
    }

    /// A record was acknowledged.
    pub fn on_delivered(&mut self, now: Instant) -> Option<Notice> {
        let notice = match self.link {
            Link::Down { since, errors } | Link::Refused { since, errors } => {
                Some(Notice::Recovered {
                    after: now.saturating_duration_since(since),
                    errors,
                })
            }
            Link::Unknown | Link::Up => None,
        };
        self.link = Link::Up;
        notice
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_once_and_its_end_once() {
        let t0 = Instant::now();
        let mut h = Health::default();
        assert_eq!(h.on_delivered(t0), None);
        let n = h.on_error(FailClass::Transport, "1/1 brokers are down", t0);
        assert!(matches!(n, Some(Notice::Unreachable { .. })));
        for _ in 0..100 {
            assert_eq!(h.on_error(FailClass::Transport, "again", t0), None);
        }
        let later = t0 + Duration::from_secs(3);
        assert_eq!(
            h.on_delivered(later),
            Some(Notice::Recovered {
                after: Duration::from_secs(3),
                errors: 101
            })
        );
        assert_eq!(h.on_delivered(later), None);
        assert_eq!(h.link(), &Link::Up);
    }

    #[test]
    fn refusal_is_its_own_notice_even_during_an_outage() {
        let t0 = Instant::now();
        let mut h = Health::default();
        assert!(matches!(
            h.on_error(FailClass::Transport, "down", t0),
            Some(Notice::Unreachable { .. })
        ));
        assert!(matches!(
            h.on_error(FailClass::Auth, "SASL authentication error", t0),
            Some(Notice::Refused { .. })
        ));
        assert_eq!(h.on_error(FailClass::Auth, "again", t0), None);
        assert_eq!(h.on_error(FailClass::Transport, "down", t0), None);
        assert!(h.is_impaired());
    }
}
