//! Config errors: every one names its key path and line.

use std::fmt;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Dotted key path, such as `backends.0.timeout`; empty for the whole file.
    pub path: String,
    /// 1-based line of the key, when known.
    pub line: Option<usize>,
    /// What is wrong, in words a user can act on.
    pub message: String,
}

impl Issue {
    /// Builds an issue.
    pub fn new(path: &str, line: Option<usize>, message: impl Into<String>) -> Self {
        Self { path: path.to_string(), line, message: message.into() }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "`{}`: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a config file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// Where the config came from, for the message.
    pub source_name: String,
    /// The problems, in file order where known.
    pub issues: Vec<Issue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.issues.len();
        write!(f, "{}: {n} config error{}", self.source_name, if n == 1 { "" } else { "s" })?;
        for issue in &self.issues {
            write!(f, "\n  {issue}")?;
        }
        Ok(())
    }
}
