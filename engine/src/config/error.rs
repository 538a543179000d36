//! Configuration errors: each one is reported as a single line naming the
//! variable, what is wrong with its value and the accepted form, and ends
//! the process with exit code 2 (`config_exit`).

use std::borrow::Cow;
use std::error::Error;
use std::fmt;

type Source = Box<dyn Error + Send + Sync>;

/// A configuration that cannot be used: one variable's value, shown as
/// `VAR (--flag): problem[: cause][: expected form]`.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {problem}{}{}", Cause(.source), Expected(.expected))]
pub struct ConfigError {
    /// The variable, with its flag where the message names it.
    var: Cow<'static, str>,
    /// What is wrong, quoting the value.
    problem: String,
    /// Why, when something else refused the value.
    #[source]
    source: Option<Source>,
    /// The accepted form, without the leading "expected".
    expected: Option<Cow<'static, str>>,
}

impl ConfigError {
    /// `var`'s value is wrong: `problem` says how.
    pub fn value(var: impl Into<Cow<'static, str>>, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            var: var.into(),
            problem: problem.into(),
            source: None,
            expected: None,
        }
    }

    /// Adds the accepted form (the text after "expected ").
    pub fn expected(mut self, form: impl Into<Cow<'static, str>>) -> ConfigError {
        self.expected = Some(form.into());
        self
    }

    /// Adds the error of whatever refused the value.
    pub fn caused_by(mut self, cause: impl Into<Source>) -> ConfigError {
        self.source = Some(cause.into());
        self
    }
}

/// ": cause", when there is one.
struct Cause<'a>(&'a Option<Source>);

impl fmt::Display for Cause<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(e) => write!(f, ": {e}"),
            None => Ok(()),
        }
    }
}

/// ": expected form", when there is one.
struct Expected<'a>(&'a Option<Cow<'static, str>>);

impl fmt::Display for Expected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(form) => write!(f, ": expected {form}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_names_variable_problem_cause_and_form() {
        let e = ConfigError::value("OUTPUT_FILE (--output-file)", "cannot open '/x'")
            .caused_by(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(
            e.to_string(),
            "OUTPUT_FILE (--output-file): cannot open '/x': entity not found"
        );
        assert!(e.source().is_some());
        let e = ConfigError::value("METRICS_INTERVAL", "invalid value '0s'")
            .expected("a duration above zero");
        assert_eq!(
            e.to_string(),
            "METRICS_INTERVAL: invalid value '0s': expected a duration above zero"
        );
    }
}
