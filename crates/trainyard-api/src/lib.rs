//! Wire types of the ModelArts v1 training-job API as trainyard serves it (`shared/spec/`).
//!
//! This crate is the contract's vocabulary, shared by the server, the SDK and the CLI:
//! - [`status`]: the `JOBSTAT_*` codes 0–22 (`statuses.md`);
//! - [`error`]: error codes, HTTP statuses and the error envelope (`errors.md`);
//! - [`params`]: strict parsers for query parameters and names (`list.md`, `training-jobs.md` §1);
//! - [`list`]: the job list query and response (`list.md`);
//! - [`jobs`]: create/version/detail/log/spec/engine bodies (`training-jobs.md`);
//! - [`history`]: the history import record (`import.md`);
//! - [`text`]: NFC normalisation and simple case folding used by names and search.
//!
//! It does no I/O and depends only on serde and Unicode tables.

pub mod configs;
pub mod error;
pub mod history;
pub mod jobs;
pub mod list;
pub mod params;
pub mod status;
pub mod text;

pub use error::{ApiError, ErrorBody, ErrorCode};
pub use list::{JobListQuery, JobListResponse, JobRow, Order, SortKey, StatusSet};
pub use status::JobStatus;
