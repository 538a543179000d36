//! OUTPUT_KAFKA_OPTIONS: librdkafka producer properties passed through
//! as they are, like Vector's `librdkafka_options`, for the settings
//! httpcap has no variable of its own for.
//!
//! The form is `key=value` pairs separated by `;`. librdkafka values
//! contain `,` (broker lists, `debug` contexts), `:` (cipher and curve
//! lists) and `=` (`sasl.oauthbearer.config`), never `;`; a pair splits
//! at its first `=`, so a value may hold more.

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;

use crate::config::ConfigError;

pub use crate::config::kafka_options::{redacted, SEPARATOR};

/// Properties httpcap's accounting depends on, refused here: with
/// `delivery.report.only.error` successful deliveries would never be
/// reported, so records would stay "in flight" forever and the
/// delivered and undelivered counts would be wrong.
const REFUSED: &[&str] = &["delivery.report.only.error"];

/// Parses and checks OUTPUT_KAFKA_OPTIONS. Each property is set on a
/// scratch librdkafka configuration, so an unknown name or a value
/// librdkafka rejects is found at startup. The error is the one line
/// that names the variable and the offending property.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut props = Vec::new();
    for pair in text.split(SEPARATOR).map(str::trim) {
        if pair.is_empty() {
            continue;
        }
        let Some((key, value)) = pair.split_once('=') else {
            return Err(invalid(pair, "not a key=value pair"));
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            return Err(invalid(pair, "empty property name"));
        }
        if REFUSED.contains(&key) {
            return Err(invalid(
                pair,
                "httpcap needs a report for every delivery to count them",
            ));
        }
        let mut scratch = ClientConfig::new();
        scratch.set(key, value);
        if let Err(e) = scratch.create_native_config() {
            let why = match e {
                KafkaError::ClientConfig(_, desc, _, _) => desc,
                other => other.to_string(),
            };
            return Err(invalid(pair, &why));
        }
        props.push((key.to_string(), value.to_string()));
    }
    Ok(props)
}

fn invalid(pair: &str, why: &str) -> ConfigError {
    let why = why.trim().trim_end_matches('.');
    ConfigError::value(
        "OUTPUT_KAFKA_OPTIONS",
        format!("invalid property '{pair}': {why}"),
    )
    .expected(format!(
        "librdkafka producer properties as key=value pairs separated by '{SEPARATOR}'"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_split_at_semicolons_and_first_equals() {
        let p = parse(
            " linger.ms=5 ; bootstrap.servers=a:1,b:2;;sasl.oauthbearer.config=principal=me ",
        )
        .unwrap();
        assert_eq!(
            p,
            vec![
                ("linger.ms".to_string(), "5".to_string()),
                ("bootstrap.servers".into(), "a:1,b:2".into()),
                ("sasl.oauthbearer.config".into(), "principal=me".into()),
            ]
        );
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn unknown_property_and_bad_value_name_the_variable_and_the_pair() {
        let e = parse("linger.ms=5;no.such.property=1")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("OUTPUT_KAFKA_OPTIONS: "), "{e}");
        assert!(e.contains("'no.such.property=1'"), "{e}");
        assert!(!e.contains('\n'));
        let e = parse("linger.ms=soon").unwrap_err().to_string();
        assert!(e.contains("'linger.ms=soon'"), "{e}");
        let e = parse("acks").unwrap_err().to_string();
        assert!(e.contains("not a key=value pair"), "{e}");
        let e = parse("delivery.report.only.error=true")
            .unwrap_err()
            .to_string();
        assert!(e.contains("delivery.report.only.error"), "{e}");
    }
}
