//! `/v1/audit-events`: who changed the organisation's API keys and webhook endpoints, or forced
//! a sandbox interview, and when. Entries are written with the change, in its transaction.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::extract::Principal;
use super::pagination::{ApiQuery, PageParams, given, given_object_id, query_result};
use super::problem::ApiError;
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::ids::IdKind;
use crate::domain::{Cursor, Violations};
use crate::store::AuditQuery;

pub const TAG: &str = "Audit log";

/// Filters for the audit log.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only entries about this object: an API key (`key_…`), webhook endpoint (`ep_…`) or
    /// application (`app_…`).
    #[param(pattern = "^(key|ep|app)_[0-9a-f]{32}$")]
    pub object_id: Option<String>,
    /// Only entries of this action.
    #[param(value_type = Option<AuditAction>)]
    pub action: Option<String>,
}

/// A page of the audit log, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEventList {
    pub data: Vec<AuditEvent>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

/// List the audit log: every change to the organisation's API keys and webhook endpoints, and
/// every forced sandbox interview, with the key and request that made it. Field names that
/// changed are listed; their values (secrets above all) never are.
#[utoipa::path(
    get,
    path = "/v1/audit-events",
    tag = TAG,
    params(PageParams, AuditFilter),
    responses((status = 200, description = "A page of audit entries.", body = AuditEventList))
)]
pub async fn list_audit_events(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(page): ApiQuery<PageParams>,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> Result<Json<AuditEventList>, ApiError> {
    let mut v = Violations::new();
    let paging = page.parse(&mut v);
    let object_id = given_object_id(&mut v, "object_id", &filter.object_id, AUDITED_KINDS);
    let action = given(&mut v, "action", &filter.action).and_then(|text| {
        let parsed = AuditAction::parse(text);
        if parsed.is_none() {
            let all: Vec<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
            v.push("action", "invalid_value", format!("must be one of {}", all.join(", ")));
        }
        parsed
    });
    let paging = query_result(v, paging)?;
    let page = state
        .store
        .list_audit_events(
            &principal.org_id,
            AuditQuery { limit: paging.limit, after: paging.after, object_id, action },
        )
        .await?;
    Ok(Json(AuditEventList {
        data: page.items,
        next_cursor: page.next.map(Cursor::encode),
        has_more: page.next.is_some(),
    }))
}

/// The kinds of object the audit log is about.
const AUDITED_KINDS: &[IdKind] = &[IdKind::ApiKey, IdKind::Endpoint, IdKind::Application];
