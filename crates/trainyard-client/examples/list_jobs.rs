//! The ModelArts SDK reference's "query the training job list" call, line for line in Rust:
//!
//! ```python
//! session = Session()
//! resp = Estimator.get_job_list(modelarts_session=session, status=8, per_page=10, page=1,
//!                               order="asc", search_content="job")
//! ```
//!
//! Run against a local `trainyard serve` (it finds `./trainyard-data/credentials.json`), or set
//! `TRAINYARD_ENDPOINT`, `TRAINYARD_PROJECT_ID`, `TRAINYARD_ACCESS_KEY`, `TRAINYARD_SECRET_KEY`:
//!
//! ```text
//! cargo run -p trainyard-client --example list_jobs
//! ```

use std::process::ExitCode;

use trainyard_client::{Estimator, JobListParams, JobStatus, Order, Session};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, e.g. `ModelArts.0101: per_page must be an integer 1-1000, got "1001"`.
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), trainyard_client::Error> {
    let session = Session::from_env()?;
    let resp = Estimator::get_job_list(
        &session,
        &JobListParams::new()
            .status(JobStatus::Running)
            .per_page(10)
            .page(1)
            .order(Order::Asc)
            .search_content("job"),
    )
    .await?;
    println!(
        "{} running job(s) matching \"job\" (job_count_limit {}, quotas {})",
        resp.job_total_count, resp.job_count_limit, resp.quotas
    );
    for job in &resp.jobs {
        println!(
            "{:>8}  {:<32}  version {:<8}  {:<24}  {:>10} ms  {}",
            job.job_id, job.job_name, job.version_id, job.status, job.duration, job.job_desc
        );
    }
    Ok(())
}
