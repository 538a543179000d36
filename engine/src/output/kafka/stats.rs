//! Failure classes of Kafka delivery reports, each counted under its own
//! counter in the shard's statistics.

use rdkafka::error::RDKafkaErrorCode;

use crate::stats::Counter;

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

    /// The per-class counter (KafkaFailed counts the total).
    pub fn counter(self) -> Counter {
        match self {
            FailClass::Timeout => Counter::KafkaFailedTimeout,
            FailClass::Auth => Counter::KafkaFailedAuth,
            FailClass::Transport => Counter::KafkaFailedTransport,
            FailClass::TooLarge => Counter::KafkaFailedTooLarge,
            FailClass::Purged => Counter::KafkaFailedPurged,
            FailClass::Other => Counter::KafkaFailedOther,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_classes() {
        use RDKafkaErrorCode as E;
        assert_eq!(FailClass::of(E::MessageTimedOut), FailClass::Timeout);
        assert_eq!(FailClass::of(E::SaslAuthenticationFailed), FailClass::Auth);
        assert_eq!(FailClass::of(E::Authentication), FailClass::Auth);
        assert_eq!(FailClass::of(E::AllBrokersDown), FailClass::Transport);
        assert_eq!(FailClass::of(E::MessageSizeTooLarge), FailClass::TooLarge);
        assert_eq!(FailClass::of(E::PurgeInflight), FailClass::Purged);
        assert_eq!(FailClass::of(E::UnknownTopicOrPartition), FailClass::Other);
        assert_eq!(FailClass::Purged.counter(), Counter::KafkaFailedPurged);
    }
}
