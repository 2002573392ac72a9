//! HTTP handlers, one module per resource. Each parses, calls the store/index/supervisor, and
//! maps the result; all routes are declared in `crate::app`, each documented by its `#[utoipa::path]`.

pub mod configs;
pub mod health;
pub mod history;
pub mod jobs;
pub mod logs;
pub mod meta;
pub mod versions;
