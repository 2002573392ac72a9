//! Strict parsers for request parameters and names (`list.md` "Query parameters",
//! `training-jobs.md` §1, `README.md` "Conventions"). Parse, don't validate: the server and the
//! SDK both use these, so a value the SDK accepts is one the server accepts.

use crate::error::ApiError;
use crate::text::{char_len, nfc};
use std::fmt;

/// Parses a contract integer: decimal ASCII digits with an optional leading `+`, leading zeros
/// allowed (`0010` = 10). Rejects `-0`, `10.5`, `1e3`, ` 5`, the empty string and values past
/// 64-bit range. The error names `name`.
pub fn parse_int(name: &str, raw: &str) -> Result<i64, ApiError> {
    let digits = raw.strip_prefix('+').unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid(format!(
            "{name} must be a decimal integer, got {:?}",
            clip(raw)
        )));
    }
    digits
        .parse::<i64>()
        .map_err(|_| ApiError::invalid(format!("{name} is out of range, got {:?}", clip(raw))))
}

/// Parses an integer in `lo..=hi` (see [`parse_int`]); the error names `name` and the range.
pub fn parse_int_in(name: &str, raw: &str, lo: i64, hi: i64) -> Result<i64, ApiError> {
    let v = parse_int(name, raw).map_err(|_| range_error(name, raw, lo, hi))?;
    if v < lo || v > hi {
        return Err(range_error(name, raw, lo, hi));
    }
    Ok(v)
}

fn range_error(name: &str, raw: &str, lo: i64, hi: i64) -> ApiError {
    ApiError::invalid(format!(
        "{name} must be an integer {lo}-{hi}, got {:?}",
        clip(raw)
    ))
}

/// Shortens a client value for an error message (at most 40 characters).
pub fn clip(raw: &str) -> String {
    if raw.chars().count() <= 40 {
        raw.to_owned()
    } else {
        format!("{}...", raw.chars().take(40).collect::<String>())
    }
}

/// A job name: 1–64 characters after NFC, each a Unicode letter or digit (`char::is_alphanumeric`),
/// `_` or `-` (`training-jobs.md` §1). Stored and compared exactly in NFC.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobName(String);

impl JobName {
    /// Longest name, in characters.
    pub const MAX_CHARS: usize = 64;

    /// Normalises to NFC and checks the rules. Errors are `ModelArts.0101` naming `job_name`.
    pub fn parse(raw: &str) -> Result<JobName, ApiError> {
        let s = nfc(raw);
        let n = char_len(&s);
        if n == 0 || n > Self::MAX_CHARS {
            return Err(ApiError::invalid(format!(
                "job_name must be 1-64 characters, got {n}"
            )));
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(ApiError::invalid(format!(
                "job_name may contain only letters, digits, '_' and '-', got {:?}",
                bad
            )));
        }
        Ok(JobName(s))
    }

    /// The name (NFC).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owned name.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A workspace id: 1–64 ASCII characters of `A-Z a-z 0-9 - _` (`list.md`); default `"0"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkspaceId(String);

impl WorkspaceId {
    /// Checks the rules; the error names `workspace_id`.
    pub fn parse(raw: &str) -> Result<WorkspaceId, ApiError> {
        if raw.is_empty()
            || raw.len() > 64
            || !raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ApiError::invalid(format!(
                "workspace_id must be 1-64 characters of A-Z a-z 0-9 - _, got {:?}",
                clip(raw)
            )));
        }
        Ok(WorkspaceId(raw.to_owned()))
    }

    /// The default workspace, `"0"`.
    pub fn default_workspace() -> WorkspaceId {
        WorkspaceId("0".to_owned())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for WorkspaceId {
    fn default() -> Self {
        WorkspaceId::default_workspace()
    }
}

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A project id: 1–64 characters of letters, digits and `-` (`README.md` "Conventions").
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectId(String);

impl ProjectId {
    /// Checks the rules; the error names `project_id`.
    pub fn parse(raw: &str) -> Result<ProjectId, ApiError> {
        if raw.is_empty()
            || raw.len() > 64
            || !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(ApiError::invalid(format!(
                "project_id must be 1-64 characters of letters, digits and '-', got {:?}",
                clip(raw)
            )));
        }
        Ok(ProjectId(raw.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a description (`job_desc`, `config_desc`): 0–256 characters. The error names `field`.
pub fn check_desc(field: &str, s: &str) -> Result<String, ApiError> {
    let s = nfc(s);
    let n = char_len(&s);
    if n > 256 {
        return Err(ApiError::invalid(format!(
            "{field} must be 0-256 characters, got {n}"
        )));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_list_md() {
        assert_eq!(parse_int("per_page", "0010").unwrap(), 10);
        assert_eq!(parse_int("per_page", "+5").unwrap(), 5);
        for bad in [
            "",
            "abc",
            "10.5",
            "1e3",
            "-0",
            " 5",
            "5 ",
            "+",
            "++5",
            "99999999999999999999",
            "-1",
        ] {
            let e = parse_int("per_page", bad).unwrap_err();
            assert_eq!(e.code.as_str(), "ModelArts.0101", "{bad:?}");
            assert!(e.message.contains("per_page"));
        }
        assert_eq!(parse_int_in("page", "65535", 1, 65535).unwrap(), 65535);
        assert!(parse_int_in("page", "65536", 1, 65535).is_err());
        assert!(parse_int_in("page", "0", 1, 65535).is_err());
    }

    #[test]
    fn job_names() {
        assert!(JobName::parse("训练-resnet50").is_ok());
        assert!(JobName::parse("Ärger-run").is_ok());
        assert_eq!(JobName::parse("A\u{0308}rger").unwrap().as_str(), "Ärger");
        for bad in ["", "a b", "lr%5", "v1.0", "team/run", &"n".repeat(65)] {
            let e = JobName::parse(bad).unwrap_err();
            assert!(e.message.contains("job_name"), "{bad}");
        }
        assert!(JobName::parse(&format!("Ä{}9", "n".repeat(62))).is_ok());
    }

    #[test]
    fn workspace_ids() {
        assert!(WorkspaceId::parse(&"w".repeat(64)).is_ok());
        assert!(WorkspaceId::parse("A_b-9").is_ok());
        for bad in ["", "a.b", "a/b", "a b", &"w".repeat(65), "é"] {
            assert!(WorkspaceId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn descriptions_count_characters() {
        assert!(check_desc("job_desc", &"述".repeat(256)).is_ok());
        assert!(
            check_desc("job_desc", &"x".repeat(257))
                .unwrap_err()
                .message
                .contains("job_desc")
        );
    }
}
