//! OUTPUT_KAFKA_OPTIONS as configuration: librdkafka properties as
//! `key=value` pairs separated by `;`, and how the startup line shows them.
//! Whether librdkafka accepts them is the Kafka output's to say
//! (`output::kafka::options`), checked at startup and by `check-config`.

/// Separates one `key=value` pair from the next.
pub const SEPARATOR: char = ';';

/// The value as the startup line shows it: secrets (passwords, client
/// secrets, keys given inline) replaced by `***`.
pub fn redacted(text: &str) -> String {
    text.split(SEPARATOR)
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_secret(key.trim()) => format!("{key}=***"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join(&SEPARATOR.to_string())
}

fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", ".pem", "oauthbearer.config"]
        .iter()
        .any(|s| key.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_from_the_startup_line() {
        assert_eq!(
            redacted("client.id=a;sasl.password=hunter2;ssl.key.password=x"),
            "client.id=a;sasl.password=***;ssl.key.password=***"
        );
    }
}
