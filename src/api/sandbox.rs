//! `/v1/sandbox`: shortcuts for integrators and tests, so nobody waits for a simulated call.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::extract::{ApiJson, ApplicationId, Principal};
use super::problem::ApiError;
use crate::domain::results::CallOutcome;
use crate::domain::{Application, Violations};
use crate::interview::{EngineError, Forced};

pub const TAG: &str = "Sandbox";

/// The outcome to force.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"outcome": "completed", "score": 87}))]
pub struct CompleteInterviewRequest {
    /// How this call attempt ends; defaults to `completed`. `no_answer` and `voicemail` count
    /// as an attempt and fail the interview when attempts run out.
    #[serde(default)]
    pub outcome: Option<CallOutcome>,
    /// The score to give (0 to 100); every question gets this grade. Only with `completed`.
    #[serde(default, deserialize_with = "crate::domain::validate::whole_number::optional")]
    #[schema(minimum = 0, maximum = 100)]
    pub score: Option<u8>,
}

/// Run the application's next call attempt now, with the outcome you choose.
#[utoipa::path(
    post,
    path = "/v1/sandbox/applications/{application_id}/complete",
    tag = TAG,
    params(ApplicationId),
    request_body = CompleteInterviewRequest,
    responses(
        (status = 200, description = "The application after the attempt; results and webhooks follow as for a real interview.", body = Application),
        (status = 409, description = "The application is already final (`application_final`) or its interview is running right now (`interview_busy`).", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn complete_interview(
    State(state): State<AppState>,
    principal: Principal,
    application_id: ApplicationId,
    ApiJson(body): ApiJson<CompleteInterviewRequest>,
) -> Result<Json<Application>, ApiError> {
    let outcome = body.outcome.unwrap_or(CallOutcome::Completed);
    let mut v = Violations::new();
    match body.score {
        Some(score) if score > 100 => v.push("score", "invalid_value", "must be between 0 and 100"),
        Some(_) if outcome != CallOutcome::Completed => {
            v.push("score", "conflict", "can only be given with the outcome `completed`")
        }
        _ => {}
    }
    v.finish(()).map_err(ApiError::validation)?;
    let forced = Forced { outcome, score: body.score };
    match state.engine.force(&principal.org_id, &application_id, forced, principal.audit()).await {
        Ok(app) => Ok(Json(app)),
        Err(EngineError::NotFound(id)) => Err(ApplicationId::not_found(&id)),
        Err(EngineError::Final(status)) => Err(ApiError::conflict(
            "application_final",
            format!("The application is already {status}; its interview is over."),
        )),
        Err(EngineError::Busy) => {
            Err(ApiError::conflict("interview_busy", "The interview is being run right now; retry in a moment.")
                .with_header(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1")))
        }
        Err(EngineError::Store(e)) => Err(e.into()),
        Err(EngineError::Ats(e)) => Err(e.into()),
    }
}
