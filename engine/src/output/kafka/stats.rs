//! Per-shard Kafka counters. Written by the owning shard (sends, delivery
//! reports served by its poll) and read by the metrics reporter, hence
//! relaxed atomics rather than plain integers.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rdkafka::error::RDKafkaErrorCode;

/// Why a delivery failed, coarse enough for a dashboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailClass {
    /// message.timeout.ms passed without a successful produce.
    Timeout,
    /// SASL, TLS or ACL refusal.
    Auth,
    /// Connection-level trouble reported against the message.
    Transport,
    /// Broker refused the message size.
    TooLarge,
    /// Removed from the queue at shutdown because the flush bound passed.
    Purged,
    Other,
}

impl FailClass {
    pub const ALL: [FailClass; 6] = [
        FailClass::Timeout,
        FailClass::Auth,
        FailClass::Transport,
        FailClass::TooLarge,
        FailClass::Purged,
        FailClass::Other,
    ];

    pub fn of(code: RDKafkaErrorCode) -> FailClass {
        use RDKafkaErrorCode as E;
        match code {
            E::MessageTimedOut | E::RequestTimedOut => FailClass::Timeout,
            E::Authentication
            | E::SaslAuthenticationFailed
            | E::TopicAuthorizationFailed
            | E::ClusterAuthorizationFailed
            | E::SSL => FailClass::Auth,
            E::BrokerTransportFailure | E::AllBrokersDown | E::Resolve | E::NetworkException => {
                FailClass::Transport
            }
            E::MessageSizeTooLarge | E::InvalidMessageSize => FailClass::TooLarge,
            E::PurgeQueue | E::PurgeInflight => FailClass::Purged,
            _ => FailClass::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FailClass::Timeout => "timeout",
            FailClass::Auth => "auth",
            FailClass::Transport => "transport",
            FailClass::TooLarge => "too_large",
            FailClass::Purged => "purged",
            FailClass::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Default, Debug)]
pub struct KafkaStats {
    /// Accepted into the producer queue.
    pub queued: AtomicU64,
    /// Acknowledged by the broker.
    pub delivered: AtomicU64,
    /// Delivery report with an error (sum of `failed_by`).
    pub failed: AtomicU64,
    failed_by: [AtomicU64; 6],
    /// Newest record dropped because the local queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Refused by the producer for another reason at enqueue time.
    pub dropped_other: AtomicU64,
    /// Records whose bodies were cut to fit MAX_MESSAGE_BYTES.
    pub trimmed: AtomicU64,
    /// Still queued when the shutdown flush bound passed.
    pub undelivered_at_shutdown: AtomicU64,
    /// Authentication failures reported by the client (not per record).
    pub auth_errors: AtomicU64,
    /// Times the brokers became unreachable.
    pub outages: AtomicU64,
}

/// Plain copy of the counters for reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KafkaCounts {
    pub queued: u64,
    pub delivered: u64,
    pub failed: u64,
    pub failed_by: [u64; 6],
    pub dropped_queue_full: u64,
    pub dropped_other: u64,
    pub trimmed: u64,
    pub undelivered_at_shutdown: u64,
    pub auth_errors: u64,
    pub outages: u64,
}

impl KafkaStats {
    pub fn fail(&self, class: FailClass) {
        self.failed.fetch_add(1, Relaxed);
        self.failed_by[class.index()].fetch_add(1, Relaxed);
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> KafkaCounts {
        let mut failed_by = [0; 6];
        for (out, c) in failed_by.iter_mut().zip(&self.failed_by) {
            *out = c.load(Relaxed);
        }
        KafkaCounts {
            queued: self.queued.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            failed: self.failed.load(Relaxed),
            failed_by,
            dropped_queue_full: self.dropped_queue_full.load(Relaxed),
            dropped_other: self.dropped_other.load(Relaxed),
            trimmed: self.trimmed.load(Relaxed),
            undelivered_at_shutdown: self.undelivered_at_shutdown.load(Relaxed),
            auth_errors: self.auth_errors.load(Relaxed),
            outages: self.outages.load(Relaxed),
        }
    }
}

impl KafkaCounts {
    pub fn failed_of(&self, class: FailClass) -> u64 {
        self.failed_by[class.index()]
    }

    /// Sum over shards.
    pub fn add(&mut self, o: &KafkaCounts) {
        self.queued += o.queued;
        self.delivered += o.delivered;
        self.failed += o.failed;
        for (a, b) in self.failed_by.iter_mut().zip(o.failed_by) {
            *a += b;
        }
        self.dropped_queue_full += o.dropped_queue_full;
        self.dropped_other += o.dropped_other;
        self.trimmed += o.trimmed;
        self.undelivered_at_shutdown += o.undelivered_at_shutdown;
        self.auth_errors += o.auth_errors;
        self.outages += o.outages;
    }

    /// `key=value` pairs for the metrics and shutdown lines.
    pub fn fields(&self) -> Vec<(String, u64)> {
        let mut v = vec![
            ("kafka_queued".to_string(), self.queued),
            ("kafka_delivered".into(), self.delivered),
            ("kafka_failed".into(), self.failed),
        ];
        for class in FailClass::ALL {
            v.push((
                format!("kafka_failed_{}", class.name()),
                self.failed_of(class),
            ));
        }
        v.extend([
            ("kafka_dropped_queue_full".into(), self.dropped_queue_full),
            ("kafka_dropped_other".into(), self.dropped_other),
            ("kafka_trimmed".into(), self.trimmed),
            ("kafka_undelivered".into(), self.undelivered_at_shutdown),
            ("kafka_auth_errors".into(), self.auth_errors),
            ("kafka_outages".into(), self.outages),
        ]);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_by_class() {
        let s = KafkaStats::default();
        s.fail(FailClass::of(RDKafkaErrorCode::MessageTimedOut));
        s.fail(FailClass::of(RDKafkaErrorCode::SaslAuthenticationFailed));
        s.fail(FailClass::of(RDKafkaErrorCode::PurgeQueue));
        let c = s.snapshot();
        assert_eq!(c.failed, 3);
        assert_eq!(c.failed_of(FailClass::Timeout), 1);
        assert_eq!(c.failed_of(FailClass::Auth), 1);
        assert_eq!(c.failed_of(FailClass::Purged), 1);
        assert_eq!(c.failed_of(FailClass::Other), 0);
    }

    #[test]
    fn class_index_matches_all_order() {
        for (i, c) in FailClass::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }
}
