//! `/v1/candidates`: candidates as they arrived with applications, and their resumes.

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::extract::{CandidateId, Principal};
use super::problem::ApiError;
use crate::ats::AtsClient;
use crate::domain::{Candidate, Resume};

pub const TAG: &str = "Candidates";

/// Get a candidate.
#[utoipa::path(
    get,
    path = "/v1/candidates/{candidate_id}",
    tag = TAG,
    params(CandidateId),
    responses((status = 200, description = "The candidate.", body = Candidate))
)]
pub async fn get_candidate(
    State(state): State<AppState>,
    principal: Principal,
    candidate_id: CandidateId,
) -> Result<Json<Candidate>, ApiError> {
    Ok(Json(state.ats(&principal).get_candidate_by_id(&candidate_id).await?))
}

/// Get a candidate's resume, as it was supplied (text, or a base64 file).
#[utoipa::path(
    get,
    path = "/v1/candidates/{candidate_id}/resume",
    tag = TAG,
    params(CandidateId),
    responses((status = 200, description = "The resume.", body = Resume))
)]
pub async fn get_resume(
    State(state): State<AppState>,
    principal: Principal,
    candidate_id: CandidateId,
) -> Result<Json<Resume>, ApiError> {
    state
        .ats(&principal)
        .get_resume_for_candidate_id(&candidate_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("resume_not_found", "resume for candidate", &candidate_id))
}
