//! Fixture files for `serve --seed FILE`: jobs and applications upserted through the same
//! validation as the API, so a seed file is a list of API request bodies.
//!
//! ```json
//! { "jobs": [ { "external_id": "REQ-1", "title": "Driver" } ],
//!   "applications": [ { "job_external_id": "REQ-1", "external_id": "APP-1",
//!                       "candidate": { "first_name": "Ada", "last_name": "Lovelace", "phone": "+14155550123" } } ] }
//! ```
//!
//! Give jobs and applications `external_id`s and seeding the same file twice changes nothing.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::api::applications::{self, CreateApplicationRequest};
use crate::api::jobs::{self, CreateJobRequest};
use crate::ats::PublicApiClient;
use crate::clock::Clock;
use crate::store::{Store, Upserted};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    #[serde(default)]
    pub jobs: Vec<CreateJobRequest>,
    #[serde(default)]
    pub applications: Vec<CreateApplicationRequest>,
}

/// What a seed did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub jobs_created: usize,
    pub jobs_existing: usize,
    pub applications_created: usize,
    pub applications_existing: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read seed file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("seed file {path} is not valid: {message}")]
    Parse { path: String, message: String },
    #[error("seed file {path}, {item}: {message}")]
    Item { path: String, item: String, message: String },
}

/// Upserts everything in the file into organisation `org_id`, in file order.
pub async fn apply(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    interview_delay: jiff::SignedDuration,
    org_id: &str,
    path: &Path,
) -> Result<SeedReport, SeedError> {
    let shown = path.display().to_string();
    let text = std::fs::read(path).map_err(|source| SeedError::Read { path: shown.clone(), source })?;
    let file: SeedFile = crate::api::extract::parse_json(&text)
        .map_err(|e| SeedError::Parse { path: shown.clone(), message: describe(&e.to_problem()) })?;
    let mut report = SeedReport::default();
    let item_error = |item: String, e: crate::api::problem::ApiError| SeedError::Item {
        path: shown.clone(),
        item,
        message: describe(&e.to_problem()),
    };
    for (i, job) in file.jobs.into_iter().enumerate() {
        match jobs::submit(store.as_ref(), org_id, job, clock.now()).await {
            Ok((_, Upserted::Created)) => report.jobs_created += 1,
            Ok((_, Upserted::Existing)) => report.jobs_existing += 1,
            Err(e) => return Err(item_error(format!("jobs[{i}]"), e)),
        }
    }
    let ats =
        PublicApiClient::new(Arc::clone(&store), Arc::clone(&clock), org_id).with_interview_delay(interview_delay);
    for (i, application) in file.applications.into_iter().enumerate() {
        match applications::submit(&ats, store.as_ref(), application).await {
            Ok((_, Upserted::Created)) => report.applications_created += 1,
            Ok((_, Upserted::Existing)) => report.applications_existing += 1,
            Err(e) => return Err(item_error(format!("applications[{i}]"), e)),
        }
    }
    Ok(report)
}

fn describe(p: &crate::api::problem::Problem) -> String {
    let mut text = p.detail.clone();
    for e in &p.errors {
        text.push_str(&format!("; {}: {}", e.field, e.message));
    }
    text
}
