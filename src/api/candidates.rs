//! `/v1/candidates`: candidates as they arrived with applications, and their resumes.

use axum::Json;
use axum::extract::{Path, State};

use super::AppState;
use super::extract::Principal;
use super::problem::ApiError;
use crate::domain::ids::IdKind;
use crate::domain::{Candidate, Resume};

pub const TAG: &str = "Candidates";

/// Get a candidate.
#[utoipa::path(
    get,
    path = "/v1/candidates/{candidate_id}",
    tag = TAG,
    params(("candidate_id" = String, Path, description = "The candidate's `id`.")),
    responses((status = 200, description = "The candidate.", body = Candidate))
)]
pub async fn get_candidate(
    State(state): State<AppState>,
    principal: Principal,
    Path(candidate_id): Path<String>,
) -> Result<Json<Candidate>, ApiError> {
    if !IdKind::Candidate.matches(&candidate_id) {
        return Err(candidate_not_found(&candidate_id));
    }
    state
        .store
        .get_candidate(&principal.org_id, &candidate_id)
        .await?
        .map(Json)
        .ok_or_else(|| candidate_not_found(&candidate_id))
}

/// Get a candidate's resume, as it was supplied (text, or a base64 file).
#[utoipa::path(
    get,
    path = "/v1/candidates/{candidate_id}/resume",
    tag = TAG,
    params(("candidate_id" = String, Path, description = "The candidate's `id`.")),
    responses((status = 200, description = "The resume.", body = Resume))
)]
pub async fn get_resume(
    State(state): State<AppState>,
    principal: Principal,
    Path(candidate_id): Path<String>,
) -> Result<Json<Resume>, ApiError> {
    if !IdKind::Candidate.matches(&candidate_id) {
        return Err(candidate_not_found(&candidate_id));
    }
    if let Some(resume) = state.store.get_resume(&principal.org_id, &candidate_id).await? {
        return Ok(Json(resume));
    }
    match state.store.get_candidate(&principal.org_id, &candidate_id).await? {
        Some(_) => Err(ApiError::not_found("resume_not_found", "resume for candidate", &candidate_id)),
        None => Err(candidate_not_found(&candidate_id)),
    }
}

fn candidate_not_found(id: &str) -> ApiError {
    ApiError::not_found("candidate_not_found", "candidate", id)
}
