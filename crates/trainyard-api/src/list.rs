//! The job list: `GET /v1/{project_id}/training-jobs` (`list.md`).

use crate::error::{ApiError, ErrorCode};
use crate::params::{WorkspaceId, clip, parse_int_in};
use crate::status::{ALL_STATUSES, JobStatus};
use crate::text::{char_len, nfc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A set of statuses (the `status` filter), as a bit set over codes 0–22.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StatusSet(u32);

impl StatusSet {
    /// The empty set.
    pub const EMPTY: StatusSet = StatusSet(0);

    /// The set of every status (what an absent or empty `status` means).
    pub const fn all() -> StatusSet {
        StatusSet((1 << 23) - 1)
    }

    /// Adds a status.
    pub fn insert(&mut self, s: JobStatus) {
        self.0 |= 1 << s.code();
    }

    /// True if `s` is in the set.
    pub const fn contains(self, s: JobStatus) -> bool {
        self.0 & (1 << s.code() as u32) != 0
    }

    /// True if the status with this code (0–22) is in the set; false for other codes.
    pub const fn contains_code(self, code: u8) -> bool {
        code < 23 && self.0 & (1 << code as u32) != 0
    }

    /// True if the set holds every status.
    pub const fn is_all(self) -> bool {
        self.0 == StatusSet::all().0
    }

    /// The statuses in the set, by code.
    pub fn iter(self) -> impl Iterator<Item = JobStatus> {
        ALL_STATUSES.into_iter().filter(move |s| self.contains(*s))
    }

    /// Number of statuses in the set.
    pub const fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// True if no status is in the set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<JobStatus> for StatusSet {
    fn from_iter<I: IntoIterator<Item = JobStatus>>(iter: I) -> Self {
        let mut s = StatusSet::EMPTY;
        for st in iter {
            s.insert(st);
        }
        s
    }
}

/// A sort key of the job list (`sortBy`/`sort_by`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// `job_name` (default): code-point order, case-sensitive.
    #[default]
    JobName,
    /// `job_desc`: code-point order.
    JobDesc,
    /// `status`: the latest version's status code.
    Status,
    /// `duration`: the latest version's duration in ms, live for running versions.
    Duration,
    /// `create_time`: the latest version's creation time (epoch ms).
    CreateTime,
    /// `version_count`: versions that exist.
    VersionCount,
    /// `engine_type`: the latest version's engine family code.
    EngineType,
}

impl SortKey {
    /// All keys, in the order `list.md` lists them.
    pub const ALL: [SortKey; 7] = [
        SortKey::JobName,
        SortKey::JobDesc,
        SortKey::Status,
        SortKey::Duration,
        SortKey::CreateTime,
        SortKey::VersionCount,
        SortKey::EngineType,
    ];

    /// The wire name, e.g. `create_time`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SortKey::JobName => "job_name",
            SortKey::JobDesc => "job_desc",
            SortKey::Status => "status",
            SortKey::Duration => "duration",
            SortKey::CreateTime => "create_time",
            SortKey::VersionCount => "version_count",
            SortKey::EngineType => "engine_type",
        }
    }

    /// Parses a wire name (case-sensitive); an unknown key is 400 `ModelArts.2790`.
    pub fn parse(raw: &str) -> Result<SortKey, ApiError> {
        SortKey::ALL.into_iter().find(|k| k.as_str() == raw).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidSortKey,
                format!(
                    "sortBy must be one of job_name, job_desc, status, duration, create_time, version_count, engine_type, got {:?}",
                    clip(raw)
                ),
            )
        })
    }

    /// Position of the key in [`SortKey::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sort direction (`order`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Ascending (the REST default).
    #[default]
    Asc,
    /// Descending (the SDK default).
    Desc,
}

impl Order {
    /// `asc` or `desc`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }

    /// Parses `asc`/`desc`, case-insensitively; anything else is 400 `ModelArts.0101` naming `order`.
    pub fn parse(raw: &str) -> Result<Order, ApiError> {
        if raw.eq_ignore_ascii_case("asc") {
            Ok(Order::Asc)
        } else if raw.eq_ignore_ascii_case("desc") {
            Ok(Order::Desc)
        } else {
            Err(ApiError::invalid(format!(
                "order must be asc or desc, got {:?}",
                clip(raw)
            )))
        }
    }
}

/// Checks `search_content`: NFC, then 0–100 characters (400 `ModelArts.0101` naming it).
pub fn parse_search(value: &str) -> Result<String, ApiError> {
    let s = nfc(value);
    let n = char_len(&s);
    if n > MAX_SEARCH_CHARS {
        return Err(ApiError::invalid(format!(
            "search_content must be 0-100 characters, got {n}"
        )));
    }
    Ok(s)
}

/// `sortBy` and `sort_by` may both be given only with the same key: `prev` is the earlier one
/// (name, key), `name`/`key` the current one. Error: 400 `ModelArts.0101` naming both.
pub fn agree_sort(prev: Option<(&str, &str)>, name: &str, key: &str) -> Result<(), ApiError> {
    match prev {
        Some((prev_name, prev_key)) if prev_key != key => Err(ApiError::invalid(format!(
            "sortBy and sort_by must be equal when both are given, got {prev_name}={prev_key} and {name}={}",
            clip(key)
        ))),
        _ => Ok(()),
    }
}

/// A validated job-list query (`list.md` "Query parameters").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobListQuery {
    /// Statuses to keep (all by default).
    pub status: StatusSet,
    /// Rows per page, 1–1000 (default 10).
    pub per_page: u32,
    /// 1-based page, 1–65535 (default 1).
    pub page: u32,
    /// Sort key (default `job_name`).
    pub sort_by: SortKey,
    /// Direction (REST default `asc`).
    pub order: Order,
    /// Literal, case-insensitive substring of `job_name`, NFC, 0–100 characters.
    pub search_content: String,
    /// Workspace (default `"0"`).
    pub workspace_id: WorkspaceId,
}

impl Default for JobListQuery {
    fn default() -> Self {
        JobListQuery {
            status: StatusSet::all(),
            per_page: 10,
            page: 1,
            sort_by: SortKey::JobName,
            order: Order::Asc,
            search_content: String::new(),
            workspace_id: WorkspaceId::default(),
        }
    }
}

/// Largest `per_page`.
pub const MAX_PER_PAGE: u32 = 1000;
/// Largest `page`.
pub const MAX_PAGE: u32 = 65535;
/// Longest `search_content`, in characters.
pub const MAX_SEARCH_CHARS: usize = 100;

impl JobListQuery {
    /// Parses the decoded query pairs of a list request, in order, repeats allowed.
    ///
    /// Unknown names are ignored. `status` may repeat and hold comma lists (the union);
    /// `sortBy` and `sort_by` must agree when both are given. Errors: 400 `ModelArts.0101`
    /// naming the parameter, or `ModelArts.2790` for an unknown sort key.
    pub fn from_pairs<'a, I>(pairs: I) -> Result<JobListQuery, ApiError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut q = JobListQuery::default();
        let mut status: Option<StatusSet> = None;
        let mut sort: Option<(&str, SortKey)> = None;
        for (name, value) in pairs {
            match name {
                "status" => {
                    let set = status.get_or_insert(StatusSet::EMPTY);
                    if value.is_empty() {
                        *set = StatusSet::all();
                        continue;
                    }
                    for part in value.split(',') {
                        let code = parse_int_in("status", part, 0, 22).map_err(|_| {
                            ApiError::invalid(format!(
                                "status must be status codes 0-22 separated by commas, got {:?}",
                                clip(value)
                            ))
                        })?;
                        if let Some(st) = JobStatus::from_code(code) {
                            set.insert(st);
                        }
                    }
                }
                "per_page" => {
                    q.per_page = parse_int_in("per_page", value, 1, MAX_PER_PAGE as i64)? as u32
                }
                "page" => q.page = parse_int_in("page", value, 1, MAX_PAGE as i64)? as u32,
                "sortBy" | "sort_by" => {
                    let key = SortKey::parse(value)?;
                    agree_sort(sort.map(|(n, k)| (n, k.as_str())), name, key.as_str())?;
                    sort = Some((name, key));
                }
                "order" => q.order = Order::parse(value)?,
                "search_content" => q.search_content = parse_search(value)?,
                "workspace_id" => q.workspace_id = WorkspaceId::parse(value)?,
                _ => {}
            }
        }
        if let Some(s) = status {
            q.status = s;
        }
        if let Some((_, k)) = sort {
            q.sort_by = k;
        }
        Ok(q)
    }

    /// The query as wire pairs (what the SDK sends): `status` as a comma list (omitted when all),
    /// `per_page`, `page`, `sortBy`, `order`, `search_content` (omitted when empty), `workspace_id`.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if !self.status.is_all() {
            let codes: Vec<String> = self.status.iter().map(|s| s.code().to_string()).collect();
            v.push(("status", codes.join(",")));
        }
        v.push(("per_page", self.per_page.to_string()));
        v.push(("page", self.page.to_string()));
        v.push(("sortBy", self.sort_by.as_str().to_owned()));
        v.push(("order", self.order.as_str().to_owned()));
        if !self.search_content.is_empty() {
            v.push(("search_content", self.search_content.clone()));
        }
        v.push(("workspace_id", self.workspace_id.as_str().to_owned()));
        v
    }

    /// Index of the first row of the page in the total order: `(page - 1) * per_page`.
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }
}

/// One row of the job list: the job and its latest version (`list.md` "Response").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobRow {
    /// Job id.
    pub job_id: i64,
    /// Job name (NFC).
    pub job_name: String,
    /// Latest version's id.
    pub version_id: i64,
    /// Latest version's status.
    pub status: JobStatus,
    /// Latest version's creation time, epoch ms (UTC).
    pub create_time: i64,
    /// Latest version's run time in ms: 0 before it starts, live while running, frozen at the end.
    pub duration: i64,
    /// Job description, never null.
    pub job_desc: String,
    /// Versions that exist, at least 1.
    pub version_count: i64,
    /// Latest version's engine family code.
    pub engine_type: i64,
}

/// The job list response (`list.md` "Response").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobListResponse {
    /// Always `true`.
    pub is_success: bool,
    /// Jobs passing the filters.
    pub job_total_count: u64,
    /// How many more jobs the project may create: `max(0, max_jobs - jobs in the project)`.
    pub job_count_limit: u64,
    /// Most versions of the project that may run at once.
    pub quotas: u64,
    /// The page.
    pub jobs: Vec<JobRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &[(&str, &str)]) -> Result<JobListQuery, ApiError> {
        JobListQuery::from_pairs(q.iter().copied())
    }

    #[test]
    fn defaults() {
        let q = parse(&[]).unwrap();
        assert_eq!(
            (q.per_page, q.page, q.sort_by, q.order),
            (10, 1, SortKey::JobName, Order::Asc)
        );
        assert!(q.status.is_all());
        assert_eq!(q.workspace_id.as_str(), "0");
    }

    #[test]
    fn status_union_and_repeats() {
        let a = parse(&[("status", "3,5,6,13")]).unwrap().status;
        let b = parse(&[("status", "3"), ("status", "5"), ("status", "6,13")])
            .unwrap()
            .status;
        assert_eq!(a, b);
        assert_eq!(
            a.iter().map(|s| s.code()).collect::<Vec<_>>(),
            vec![3, 5, 6, 13]
        );
        assert!(parse(&[("status", "")]).unwrap().status.is_all());
        for bad in ["99", "running", "-1", "23", "10,", ",10", "1,,2"] {
            let e = parse(&[("status", bad)]).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidParameter, "{bad}");
            assert!(e.message.contains("status"));
        }
    }

    #[test]
    fn sort_keys() {
        assert_eq!(
            parse(&[("sort_by", "duration")]).unwrap().sort_by,
            SortKey::Duration
        );
        assert_eq!(
            parse(&[("sortBy", "duration"), ("sort_by", "duration")])
                .unwrap()
                .sort_by,
            SortKey::Duration
        );
        assert_eq!(
            parse(&[("sortBy", "JOB_NAME")]).unwrap_err().code,
            ErrorCode::InvalidSortKey
        );
        assert_eq!(
            parse(&[("sortBy", "job_name"), ("sort_by", "status")])
                .unwrap_err()
                .code,
            ErrorCode::InvalidParameter
        );
    }

    #[test]
    fn order_and_search() {
        assert_eq!(parse(&[("order", "DeSc")]).unwrap().order, Order::Desc);
        assert!(parse(&[("order", "descending")]).is_err());
        assert!(parse(&[("search_content", &"训".repeat(100))]).is_ok());
        assert!(
            parse(&[("search_content", &"训".repeat(101))])
                .unwrap_err()
                .message
                .contains("search_content")
        );
    }

    #[test]
    fn to_pairs_round_trips() {
        let q = parse(&[
            ("status", "8,3"),
            ("per_page", "7"),
            ("page", "3"),
            ("sortBy", "status"),
            ("order", "desc"),
            ("search_content", "a_b"),
            ("workspace_id", "ws"),
        ])
        .unwrap();
        let pairs = q.to_pairs();
        let back = JobListQuery::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        assert_eq!(q, back);
        assert_eq!(q.offset(), 14);
    }
}
