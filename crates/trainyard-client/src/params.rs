//! Builders for list queries, checked on the client with the server's own rules.

use trainyard_api::list::MAX_PER_PAGE;
use trainyard_api::{JobListQuery, JobStatus, Order, SortKey};

use crate::error::{Error, Result};

/// A job-list query as the SDK takes it: anything that can become a validated
/// [`JobListQuery`]. Implemented by [`JobListParams`] (the builder, SDK defaults) and by
/// [`JobListQuery`] itself (the REST defaults, sent as given).
pub trait ToJobListQuery {
    /// The validated query. `default_per_page` is used when the caller set no page size
    /// (10 for [`Estimator::get_job_list`](crate::Estimator::get_job_list), 1000 for
    /// [`Estimator::list_all`](crate::Estimator::list_all)).
    ///
    /// Errors: [`Error::InvalidArgument`] with the server's message for a value out of range
    /// (`list.md` "Query parameters").
    fn to_job_list_query(&self, default_per_page: u32) -> Result<JobListQuery>;
}

impl ToJobListQuery for JobListQuery {
    /// Checks the struct's public fields against `list.md` (they may have been set out of range)
    /// and returns it unchanged otherwise, search normalised to NFC. `default_per_page` is
    /// ignored: the struct always has a `per_page`.
    fn to_job_list_query(&self, _default_per_page: u32) -> Result<JobListQuery> {
        let pairs = self.to_pairs();
        let mut q = JobListQuery::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
            .map_err(Error::invalid)?;
        // `to_pairs` leaves an empty status set out; keep the caller's set as it is.
        q.status = self.status;
        Ok(q)
    }
}

/// The job-list parameters of the ModelArts SDK's `Estimator.get_job_list`, as a builder
/// (`sdk.md` "SDK", `list.md` "Query parameters").
///
/// Defaults are the SDK's, not the REST API's: **`order` is descending** unless you call
/// [`order`](JobListParams::order); all statuses; `per_page` 10 (1000 in
/// [`Estimator::list_all`](crate::Estimator::list_all)); page 1; `sortBy=job_name`; no search;
/// workspace `"0"`.
///
/// Setters never fail; the values are checked when the query is sent, with the server's rules
/// (per_page 1–1000, page 1–65535, search_content at most 100 characters after NFC,
/// workspace_id 1–64 of `A-Z a-z 0-9 - _`), giving [`Error::InvalidArgument`] before any
/// request.
///
/// ```
/// use trainyard_client::{JobListParams, JobStatus, Order, SortKey, ToJobListQuery};
///
/// let params = JobListParams::new()
///     .status(JobStatus::Running)
///     .per_page(10)
///     .page(1)
///     .sort_by(SortKey::CreateTime)
///     .order(Order::Asc)
///     .search_content("job");
/// let q = params.to_job_list_query(10)?;
/// assert_eq!(q.order, Order::Asc);
/// assert!(JobListParams::new().per_page(1001).to_job_list_query(10).is_err());
/// # Ok::<(), trainyard_client::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobListParams {
    statuses: Vec<JobStatus>,
    per_page: Option<u32>,
    page: Option<u32>,
    sort_by: Option<SortKey>,
    order: Order,
    search_content: Option<String>,
    workspace_id: Option<String>,
}

impl Default for JobListParams {
    fn default() -> Self {
        JobListParams {
            statuses: Vec::new(),
            per_page: None,
            page: None,
            sort_by: None,
            order: Order::Desc,
            search_content: None,
            workspace_id: None,
        }
    }
}

impl JobListParams {
    /// The SDK defaults (see the type's docs): every status, descending `job_name` order.
    pub fn new() -> JobListParams {
        JobListParams::default()
    }

    /// Keeps jobs whose latest version has this status. Calling it again (or
    /// [`statuses`](JobListParams::statuses)) adds to the set: the union is selected
    /// (`status=3,5,6,13`, `list.md`). Never calling it selects every status.
    pub fn status(mut self, status: JobStatus) -> JobListParams {
        if !self.statuses.contains(&status) {
            self.statuses.push(status);
        }
        self
    }

    /// Adds several statuses to the filter (the union), e.g. the "failed to start" family
    /// `[ImageFailed, SubmitFailed, DeleteFailed, Canceled]`.
    pub fn statuses(mut self, statuses: impl IntoIterator<Item = JobStatus>) -> JobListParams {
        for s in statuses {
            self = self.status(s);
        }
        self
    }

    /// Rows per page, 1–1000 (default 10; 1000 in `list_all`).
    pub fn per_page(mut self, per_page: u32) -> JobListParams {
        self.per_page = Some(per_page);
        self
    }

    /// The 1-based page, 1–65535 (default 1; where `list_all` starts).
    pub fn page(mut self, page: u32) -> JobListParams {
        self.page = Some(page);
        self
    }

    /// Sort key (default [`SortKey::JobName`]); ties are broken by `job_id` in the same direction.
    pub fn sort_by(mut self, key: SortKey) -> JobListParams {
        self.sort_by = Some(key);
        self
    }

    /// Direction (SDK default [`Order::Desc`]).
    pub fn order(mut self, order: Order) -> JobListParams {
        self.order = order;
        self
    }

    /// Keeps jobs whose name contains this text, ignoring case (literal: `%`, `_`, `*` match
    /// themselves); at most 100 characters after NFC normalisation. Empty matches every job.
    pub fn search_content(mut self, text: impl Into<String>) -> JobListParams {
        self.search_content = Some(text.into());
        self
    }

    /// The workspace (default `"0"`): 1–64 ASCII characters of `A-Z a-z 0-9 - _`.
    pub fn workspace_id(mut self, workspace_id: impl Into<String>) -> JobListParams {
        self.workspace_id = Some(workspace_id.into());
        self
    }

    /// The page size set with [`per_page`](JobListParams::per_page), if any.
    pub fn get_per_page(&self) -> Option<u32> {
        self.per_page
    }

    /// The order (SDK default descending).
    pub fn get_order(&self) -> Order {
        self.order
    }
}

impl ToJobListQuery for JobListParams {
    fn to_job_list_query(&self, default_per_page: u32) -> Result<JobListQuery> {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.statuses.is_empty() {
            let codes: Vec<String> = self.statuses.iter().map(|s| s.code().to_string()).collect();
            pairs.push(("status", codes.join(",")));
        }
        pairs.push((
            "per_page",
            self.per_page
                .unwrap_or(default_per_page.clamp(1, MAX_PER_PAGE))
                .to_string(),
        ));
        if let Some(p) = self.page {
            pairs.push(("page", p.to_string()));
        }
        if let Some(k) = self.sort_by {
            pairs.push(("sortBy", k.as_str().to_owned()));
        }
        pairs.push(("order", self.order.as_str().to_owned()));
        if let Some(s) = &self.search_content {
            pairs.push(("search_content", s.clone()));
        }
        if let Some(w) = &self.workspace_id {
            pairs.push(("workspace_id", w.clone()));
        }
        JobListQuery::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
            .map_err(Error::invalid)
    }
}

impl From<JobListQuery> for JobListParams {
    fn from(q: JobListQuery) -> JobListParams {
        JobListParams {
            statuses: if q.status.is_all() {
                Vec::new()
            } else {
                q.status.iter().collect()
            },
            per_page: Some(q.per_page),
            page: Some(q.page),
            sort_by: Some(q.sort_by),
            order: q.order,
            search_content: (!q.search_content.is_empty()).then_some(q.search_content),
            workspace_id: Some(q.workspace_id.as_str().to_owned()),
        }
    }
}

/// The wire pairs of a validated query, in the order sent: `status` (a comma list, omitted when
/// every status is selected), `per_page`, `page`, `sortBy`, `order`, `search_content` (omitted
/// when empty), `workspace_id`.
pub(crate) fn query_pairs(q: &JobListQuery) -> Vec<(String, String)> {
    q.to_pairs()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

pub use trainyard_api::configs::ConfigSortKey;

/// Parameters of `GET /v1/{project_id}/training-job-configs` (`training-jobs.md` §14): only
/// what is set is sent, so the server's defaults apply to the rest (`sortBy=config_name`,
/// `order=desc`).
///
/// Checked before sending with the job list's ranges: per_page 1–1000, page 1–65535,
/// search_content at most 100 characters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigListParams {
    per_page: Option<u32>,
    page: Option<u32>,
    sort_by: Option<ConfigSortKey>,
    order: Option<Order>,
    search_content: Option<String>,
}

impl ConfigListParams {
    /// No parameters: the server's defaults.
    pub fn new() -> ConfigListParams {
        ConfigListParams::default()
    }

    /// Rows per page, 1–1000.
    pub fn per_page(mut self, per_page: u32) -> ConfigListParams {
        self.per_page = Some(per_page);
        self
    }

    /// The 1-based page, 1–65535.
    pub fn page(mut self, page: u32) -> ConfigListParams {
        self.page = Some(page);
        self
    }

    /// Sort key.
    pub fn sort_by(mut self, key: ConfigSortKey) -> ConfigListParams {
        self.sort_by = Some(key);
        self
    }

    /// Direction (server default descending).
    pub fn order(mut self, order: Order) -> ConfigListParams {
        self.order = Some(order);
        self
    }

    /// Keeps configs whose name contains this text; at most 100 characters.
    pub fn search_content(mut self, text: impl Into<String>) -> ConfigListParams {
        self.search_content = Some(text.into());
        self
    }

    /// The wire pairs, checked with the server's own parser (same ranges and messages).
    /// Errors: [`Error::InvalidArgument`].
    pub(crate) fn to_pairs(&self) -> Result<Vec<(String, String)>> {
        let mut v = Vec::new();
        if let Some(n) = self.per_page {
            v.push(("per_page".to_owned(), n.to_string()));
        }
        if let Some(n) = self.page {
            v.push(("page".to_owned(), n.to_string()));
        }
        if let Some(k) = self.sort_by {
            v.push(("sortBy".to_owned(), k.as_str().to_owned()));
        }
        if let Some(o) = self.order {
            v.push(("order".to_owned(), o.as_str().to_owned()));
        }
        if let Some(s) = &self.search_content {
            v.push(("search_content".to_owned(), trainyard_api::text::nfc(s)));
        }
        trainyard_api::configs::ConfigListQuery::from_pairs(
            v.iter().map(|(k, x)| (k.as_str(), x.as_str())),
        )
        .map_err(|e| Error::InvalidArgument(e.message))?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::encode_query;

    fn wire(p: &impl ToJobListQuery) -> String {
        encode_query(&query_pairs(&p.to_job_list_query(10).unwrap()))
    }

    #[test]
    fn the_seed_call_encodes_exactly() {
        let p = JobListParams::new()
            .status(JobStatus::Running)
            .per_page(10)
            .page(1)
            .order(Order::Asc)
            .search_content("job");
        assert_eq!(
            wire(&p),
            "status=8&per_page=10&page=1&sortBy=job_name&order=asc&search_content=job&workspace_id=0"
        );
    }

    #[test]
    fn sdk_default_order_is_desc() {
        assert_eq!(
            wire(&JobListParams::new()),
            "per_page=10&page=1&sortBy=job_name&order=desc&workspace_id=0"
        );
        // A JobListQuery is sent as given: REST defaults.
        assert_eq!(
            wire(&JobListQuery::default()),
            "per_page=10&page=1&sortBy=job_name&order=asc&workspace_id=0"
        );
        // list_all's default page size applies only when none was set.
        let q = JobListParams::new().to_job_list_query(1000).unwrap();
        assert_eq!(q.per_page, 1000);
        let q = JobListParams::new()
            .per_page(7)
            .to_job_list_query(1000)
            .unwrap();
        assert_eq!(q.per_page, 7);
    }

    #[test]
    fn statuses_are_a_union_sent_as_one_comma_list() {
        let a = JobListParams::new()
            .status(JobStatus::Canceled)
            .status(JobStatus::ImageFailed)
            .status(JobStatus::ImageFailed);
        let b = JobListParams::new()
            .statuses([JobStatus::SubmitFailed, JobStatus::DeleteFailed])
            .statuses([JobStatus::ImageFailed, JobStatus::Canceled]);
        assert_eq!(
            wire(&a),
            "status=3%2C13&per_page=10&page=1&sortBy=job_name&order=desc&workspace_id=0"
        );
        assert_eq!(
            wire(&b),
            "status=3%2C5%2C6%2C13&per_page=10&page=1&sortBy=job_name&order=desc&workspace_id=0"
        );
        // What the server parses back from the repeated and the comma forms is the same set.
        let comma = JobListQuery::from_pairs([("status", "3,5,6,13")]).unwrap();
        let repeated = JobListQuery::from_pairs([
            ("status", "3"),
            ("status", "5"),
            ("status", "6"),
            ("status", "13"),
        ])
        .unwrap();
        assert_eq!(comma.status, repeated.status);
        assert_eq!(b.to_job_list_query(10).unwrap().status, comma.status);
    }

    #[test]
    fn unicode_search_is_nfc_and_percent_encoded() {
        let p = JobListParams::new()
            .search_content("A\u{0308}rger 训练%_*")
            .sort_by(SortKey::CreateTime)
            .workspace_id("ws-1");
        assert_eq!(
            wire(&p),
            "per_page=10&page=1&sortBy=create_time&order=desc&search_content=%C3%84rger%20%E8%AE%AD%E7%BB%83%25_%2A&workspace_id=ws-1"
        );
    }

    #[test]
    fn client_side_validation_uses_the_server_rules() {
        let err = |p: JobListParams| match p.to_job_list_query(10) {
            Err(Error::InvalidArgument(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            err(JobListParams::new().per_page(1001)),
            "per_page must be an integer 1-1000, got \"1001\""
        );
        assert!(err(JobListParams::new().per_page(0)).contains("per_page"));
        assert!(err(JobListParams::new().page(0)).contains("page"));
        assert!(err(JobListParams::new().page(65536)).contains("page must be an integer 1-65535"));
        assert!(
            JobListParams::new()
                .page(65535)
                .per_page(1000)
                .to_job_list_query(10)
                .is_ok()
        );
        assert!(
            err(JobListParams::new().search_content("x".repeat(101))).contains("search_content")
        );
        // 100 composed characters from 200 code points (NFC first) are fine.
        assert!(
            JobListParams::new()
                .search_content("A\u{0308}".repeat(100))
                .to_job_list_query(10)
                .is_ok()
        );
        assert!(
            JobListParams::new()
                .search_content("训".repeat(100))
                .to_job_list_query(10)
                .is_ok()
        );
        for bad in ["", "a.b", "a b", "é", &"w".repeat(65)] {
            assert!(
                err(JobListParams::new().workspace_id(bad)).contains("workspace_id"),
                "{bad}"
            );
        }
        let e = JobListParams::new()
            .per_page(1001)
            .to_job_list_query(10)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "ModelArts.0101: per_page must be an integer 1-1000, got \"1001\""
        );
        // Out-of-range public fields of a JobListQuery are caught too.
        let q = JobListQuery {
            per_page: 5000,
            ..JobListQuery::default()
        };
        assert!(
            matches!(q.to_job_list_query(10), Err(Error::InvalidArgument(m)) if m.contains("per_page"))
        );
    }

    #[test]
    fn query_round_trips_through_params() {
        let q = JobListQuery::from_pairs([
            ("status", "8,11"),
            ("per_page", "5"),
            ("page", "2"),
            ("sortBy", "duration"),
            ("order", "desc"),
            ("search_content", "x"),
            ("workspace_id", "w"),
        ])
        .unwrap();
        let p = JobListParams::from(q.clone());
        assert_eq!(p.to_job_list_query(10).unwrap(), q);
        assert_eq!(p.get_per_page(), Some(5));
        assert_eq!(p.get_order(), Order::Desc);
    }

    #[test]
    fn config_params() {
        let p = ConfigListParams::new()
            .per_page(5)
            .page(2)
            .sort_by(ConfigSortKey::CreateTime)
            .order(Order::Asc)
            .search_content("cfg");
        assert_eq!(
            encode_query(&p.to_pairs().unwrap()),
            "per_page=5&page=2&sortBy=create_time&order=asc&search_content=cfg"
        );
        assert_eq!(ConfigListParams::new().to_pairs().unwrap(), vec![]);
        assert!(ConfigListParams::new().per_page(0).to_pairs().is_err());
        assert!(
            ConfigListParams::new()
                .search_content("x".repeat(101))
                .to_pairs()
                .is_err()
        );
    }
}
