//! Named training-job configs (`training-jobs.md` §14): the name rule and the list query,
//! shared by the server (which parses requests with them), the store and the SDK (which checks
//! arguments with the same ranges before sending).

use crate::error::{ApiError, ErrorCode};
use crate::list::{MAX_PAGE, MAX_PER_PAGE, Order, agree_sort, parse_search};
use crate::params::{clip, parse_int_in};

/// Longest `config_name`, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Checks a `config_name`: 1–64 characters of `A-Z a-z 0-9 _ -` (400 `ModelArts.0101` naming
/// `config_name`).
pub fn parse_config_name(raw: &str) -> Result<String, ApiError> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_NAME_CHARS
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        return Err(ApiError::invalid(format!(
            "config_name must be 1-64 characters of A-Z a-z 0-9 _ -, got {:?}",
            clip(raw)
        )));
    }
    Ok(raw.to_owned())
}

/// Sort keys of the config list (`sortBy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ConfigSortKey {
    /// `config_name` (the default).
    #[default]
    ConfigName,
    /// `config_desc`.
    ConfigDesc,
    /// `create_time`.
    CreateTime,
}

impl ConfigSortKey {
    /// Every key, in the spec's order.
    pub const ALL: [ConfigSortKey; 3] = [
        ConfigSortKey::ConfigName,
        ConfigSortKey::ConfigDesc,
        ConfigSortKey::CreateTime,
    ];

    /// The wire name, e.g. `config_name`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConfigSortKey::ConfigName => "config_name",
            ConfigSortKey::ConfigDesc => "config_desc",
            ConfigSortKey::CreateTime => "create_time",
        }
    }

    /// Parses a wire name given as parameter `name` (case-sensitive); unknown is 400
    /// `ModelArts.2790` naming the parameter.
    pub fn parse(name: &str, raw: &str) -> Result<ConfigSortKey, ApiError> {
        ConfigSortKey::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidSortKey,
                    format!(
                        "{name} must be one of config_name, config_desc, create_time, got {:?}",
                        clip(raw)
                    ),
                )
            })
    }
}

/// A validated config-list query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigListQuery {
    /// Rows per page, 1–1000 (default 10).
    pub per_page: u32,
    /// 1-based page, 1–65535 (default 1).
    pub page: u32,
    /// Sort key (default `config_name`).
    pub sort_by: ConfigSortKey,
    /// Direction (default descending).
    pub order: Order,
    /// Literal, case-insensitive substring of `config_name` (NFC); empty keeps every config.
    pub search_content: String,
}

impl Default for ConfigListQuery {
    fn default() -> Self {
        ConfigListQuery {
            per_page: 10,
            page: 1,
            sort_by: ConfigSortKey::ConfigName,
            order: Order::Desc,
            search_content: String::new(),
        }
    }
}

impl ConfigListQuery {
    /// Index of the first row of the page: `(page - 1) * per_page`.
    pub fn offset(&self) -> u64 {
        u64::from(self.page.max(1) - 1) * u64::from(self.per_page)
    }

    /// Parses the decoded query pairs: `per_page` 1–1000, `page` 1–65535, `sortBy`/`sort_by`
    /// (both names must agree; unknown key 400 `ModelArts.2790`), `order` asc/desc
    /// case-insensitive, `search_content` 0–100 characters after NFC, with the job list's
    /// integer rules. Unknown parameters are ignored. Errors name the parameter.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ConfigListQuery, ApiError> {
        let mut q = ConfigListQuery::default();
        let mut sort: Option<(&str, ConfigSortKey)> = None;
        for (name, value) in pairs {
            match name {
                "per_page" => {
                    q.per_page = parse_int_in("per_page", value, 1, i64::from(MAX_PER_PAGE))? as u32
                }
                "page" => q.page = parse_int_in("page", value, 1, i64::from(MAX_PAGE))? as u32,
                "sortBy" | "sort_by" => {
                    let key = ConfigSortKey::parse(name, value)?;
                    agree_sort(sort.map(|(n, k)| (n, k.as_str())), name, key.as_str())?;
                    sort = Some((name, key));
                }
                "order" => q.order = Order::parse(value)?,
                "search_content" => q.search_content = parse_search(value)?,
                _ => {}
            }
        }
        if let Some((_, k)) = sort {
            q.sort_by = k;
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec() {
        assert!(parse_config_name("A-z_09").is_ok());
        assert!(parse_config_name(&"n".repeat(64)).is_ok());
        for bad in ["", "a b", "a.b", "a/b", "Ärger", "训练", &"n".repeat(65)] {
            let e = parse_config_name(bad).unwrap_err();
            assert_eq!(e.code.as_str(), "ModelArts.0101", "{bad:?}");
            assert!(e.message.contains("config_name"), "{bad:?}");
        }
    }

    #[test]
    fn list_query_defaults_and_errors() {
        let q = ConfigListQuery::from_pairs([]).unwrap();
        assert_eq!(q, ConfigListQuery::default());
        assert_eq!(q.order, Order::Desc);
        assert_eq!(q.sort_by, ConfigSortKey::ConfigName);
        assert_eq!((q.per_page, q.page), (10, 1));
        let q = ConfigListQuery::from_pairs([
            ("per_page", "0010"),
            ("page", "+2"),
            ("sortBy", "create_time"),
            ("order", "ASC"),
            ("search_content", "x"),
            ("marker", "ignored"),
        ])
        .unwrap();
        assert_eq!(
            (
                q.per_page,
                q.page,
                q.sort_by,
                q.order,
                q.search_content.as_str()
            ),
            (10, 2, ConfigSortKey::CreateTime, Order::Asc, "x")
        );
        let err = |pairs: &[(&str, &str)]| {
            ConfigListQuery::from_pairs(pairs.iter().copied()).unwrap_err()
        };
        for (pairs, code, names) in [
            (&[("per_page", "1001")][..], "ModelArts.0101", "per_page"),
            (&[("per_page", "0")][..], "ModelArts.0101", "per_page"),
            (&[("page", "65536")][..], "ModelArts.0101", "page"),
            (&[("sortBy", "job_name")][..], "ModelArts.2790", "sortBy"),
            (
                &[("sort_by", "CONFIG_NAME")][..],
                "ModelArts.2790",
                "sort_by",
            ),
            (&[("order", "up")][..], "ModelArts.0101", "order"),
            (
                &[("sortBy", "config_name"), ("sort_by", "create_time")][..],
                "ModelArts.0101",
                "sort_by",
            ),
        ] {
            let e = err(pairs);
            assert_eq!(e.code.as_str(), code, "{pairs:?}");
            assert!(e.message.contains(names), "{pairs:?}: {}", e.message);
        }
        let long = "x".repeat(101);
        assert!(
            err(&[("search_content", long.as_str())])
                .message
                .contains("search_content")
        );
    }
}
