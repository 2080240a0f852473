//! The capability table: one row per [`AtsClient`](super::AtsClient) method, as data. The
//! coverage page (`spec/ats-coverage.md`), `GET /v1/integration` and the conformance tests are
//! all derived from it, so they cannot disagree.

use serde::Serialize;
use utoipa::ToSchema;

use super::client::Provider;

/// Every method of the ATS client contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AtsMethod {
    StreamJobs,
    StreamApplications,
    StreamCandidates,
    MoveApplicationToStage,
    GetDispositionReasons,
    RejectApplication,
    BulkRejectApplications,
    CreateApplicationForCandidate,
    GetAllApplicationStages,
    GetJobByJobId,
    GetEnhancedJob,
    FetchEnhancedJobsBatch,
    GetCandidateById,
    FindCandidatesByDetails,
    GetResumeForCandidateId,
    AddNoteToApplication,
    AddNoteToCandidate,
    AddAttachmentToApplication,
    AddAttachmentToCandidate,
    GetJobCustomFields,
    UpdateJobCustomFields,
    GetApplicationCustomFields,
    UpdateApplicationCustomFields,
    GetCandidateCustomFields,
    UpdateCandidateCustomFields,
    PostCallResults,
}

impl AtsMethod {
    pub const ALL: [AtsMethod; 26] = [
        AtsMethod::StreamJobs,
        AtsMethod::StreamApplications,
        AtsMethod::StreamCandidates,
        AtsMethod::MoveApplicationToStage,
        AtsMethod::GetDispositionReasons,
        AtsMethod::RejectApplication,
        AtsMethod::BulkRejectApplications,
        AtsMethod::CreateApplicationForCandidate,
        AtsMethod::GetAllApplicationStages,
        AtsMethod::GetJobByJobId,
        AtsMethod::GetEnhancedJob,
        AtsMethod::FetchEnhancedJobsBatch,
        AtsMethod::GetCandidateById,
        AtsMethod::FindCandidatesByDetails,
        AtsMethod::GetResumeForCandidateId,
        AtsMethod::AddNoteToApplication,
        AtsMethod::AddNoteToCandidate,
        AtsMethod::AddAttachmentToApplication,
        AtsMethod::AddAttachmentToCandidate,
        AtsMethod::GetJobCustomFields,
        AtsMethod::UpdateJobCustomFields,
        AtsMethod::GetApplicationCustomFields,
        AtsMethod::UpdateApplicationCustomFields,
        AtsMethod::GetCandidateCustomFields,
        AtsMethod::UpdateCandidateCustomFields,
        AtsMethod::PostCallResults,
    ];

    /// The method's name in the client contract (the Rust method name).
    pub fn name(self) -> &'static str {
        capability(self).name
    }
}

impl std::fmt::Display for AtsMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The capability groups of the platform's ATS coverage pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Streaming,
    ApplicationManagement,
    JobManagement,
    CandidateManagement,
    NotesAndAttachments,
    CustomFields,
    Results,
}

impl Group {
    pub fn title(self) -> &'static str {
        match self {
            Group::Streaming => "Streaming operations",
            Group::ApplicationManagement => "Application management",
            Group::JobManagement => "Job management",
            Group::CandidateManagement => "Candidate management",
            Group::NotesAndAttachments => "Notes and attachments",
            Group::CustomFields => "Custom fields",
            Group::Results => "Results",
        }
    }
}

/// How far a provider supports a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Support {
    Supported,
    /// Supported without the enrichment other providers add.
    SupportedBasic,
    /// Returns an `Unsupported` error and changes nothing.
    NotSupported,
}

impl Support {
    pub fn label(self) -> &'static str {
        match self {
            Support::Supported => "Supported",
            Support::SupportedBasic => "Supported (basic)",
            Support::NotSupported => "Not supported",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Capability {
    pub group: Group,
    /// The method's name in the client contract.
    #[schema(example = "get_job_by_job_id")]
    pub name: &'static str,
    /// The method as the platform's documentation names it.
    #[schema(example = "get_job_by_job_id(job_id)")]
    pub documented_as: &'static str,
    pub support: Support,
    /// Why, in the provider's terms.
    #[schema(example = "Served from the job cache that POST /v1/jobs fills.")]
    pub note: &'static str,
}

/// The `public_api` provider's row for `method`. The match is exhaustive, so a method without
/// a row does not compile.
pub const fn capability(method: AtsMethod) -> Capability {
    use AtsMethod::*;
    use Group::*;
    use Support::*;
    const fn row(
        group: Group,
        name: &'static str,
        documented_as: &'static str,
        support: Support,
        note: &'static str,
    ) -> Capability {
        Capability { group, name, documented_as, support, note }
    }
    match method {
        StreamJobs => row(
            Streaming,
            "stream_jobs",
            "_stream_jobs(updated_after, statuses)",
            NotSupported,
            "Jobs are provided through the Public API and stored in the job cache; there is no ATS to stream from.",
        ),
        StreamApplications => row(
            Streaming,
            "stream_applications",
            "_stream_applications(updated_after, for_job_ids)",
            NotSupported,
            "Applications are created by Public API calls; there is no ATS to stream from.",
        ),
        StreamCandidates => row(
            Streaming,
            "stream_candidates",
            "_stream_candidates(updated_after)",
            NotSupported,
            "Candidates arrive with Public API calls; there is no ATS to stream from.",
        ),
        MoveApplicationToStage => row(
            ApplicationManagement,
            "move_application_to_stage",
            "_move_application_to_stage(application, stage)",
            NotSupported,
            "Stage management happens in the customer's own system; there is no ATS pipeline to move.",
        ),
        GetDispositionReasons => row(
            ApplicationManagement,
            "get_disposition_reasons",
            "get_disposition_reasons()",
            NotSupported,
            "Not applicable to a webhook integration: there is no ATS with rejection reasons.",
        ),
        RejectApplication => row(
            ApplicationManagement,
            "reject_application",
            "reject_application(application_id, reason_id)",
            NotSupported,
            "Application management happens in the customer's own system; there is no ATS to reject in.",
        ),
        BulkRejectApplications => row(
            ApplicationManagement,
            "bulk_reject_applications",
            "bulk_reject_applications(application_ids, reason_id)",
            NotSupported,
            "Application management happens in the customer's own system; there is no ATS to reject in.",
        ),
        CreateApplicationForCandidate => row(
            ApplicationManagement,
            "create_application_for_candidate",
            "_create_application_for_candidate(candidate, job)",
            Supported,
            "Applications are created when customers submit them through the Public API; minimal data is stored and results go out by webhook.",
        ),
        GetAllApplicationStages => row(
            ApplicationManagement,
            "get_all_application_stages",
            "_get_all_application_stages()",
            NotSupported,
            "Not applicable: there is no ATS pipeline with stages.",
        ),
        GetJobByJobId => row(
            JobManagement,
            "get_job_by_job_id",
            "get_job_by_job_id(job_id)",
            Supported,
            "Reads the job cache, where jobs created through the Public API live; never queries an external ATS.",
        ),
        GetEnhancedJob => row(
            JobManagement,
            "get_enhanced_job",
            "get_enhanced_job(kombo_id, remote_job_id)",
            SupportedBasic,
            "Returns the cached job without enhancement; there is no external ATS to query.",
        ),
        FetchEnhancedJobsBatch => row(
            JobManagement,
            "fetch_enhanced_jobs_batch",
            "_fetch_enhanced_jobs_batch_from_ats(limit, cursor)",
            NotSupported,
            "Jobs come from the Public API, not from streaming an ATS.",
        ),
        GetCandidateById => row(
            CandidateManagement,
            "get_candidate_by_id",
            "_get_candidate_by_id(candidate_id)",
            Supported,
            "Returns the candidate data that arrived with the Public API call.",
        ),
        FindCandidatesByDetails => row(
            CandidateManagement,
            "find_candidates_by_details",
            "_find_candidates_by_details(first_name, last_name, email, phone)",
            NotSupported,
            "Candidates are provided through the API, not searched for in an ATS.",
        ),
        GetResumeForCandidateId => row(
            CandidateManagement,
            "get_resume_for_candidate_id",
            "_get_resume_for_candidate_id(candidate_id)",
            Supported,
            "Returns the resume that arrived with the Public API call.",
        ),
        AddNoteToApplication => row(
            NotesAndAttachments,
            "add_note_to_application",
            "_add_note_to_application(application, note, note_action_type)",
            NotSupported,
            "There is no external ATS to write notes to; results go out by webhook.",
        ),
        AddNoteToCandidate => row(
            NotesAndAttachments,
            "add_note_to_candidate",
            "_add_note_to_candidate(candidate, note, note_action_type)",
            NotSupported,
            "There is no external ATS to write notes to; results go out by webhook.",
        ),
        AddAttachmentToApplication => row(
            NotesAndAttachments,
            "add_attachment_to_application",
            "_add_attachment_to_application(filename, application_id, pdf_b64)",
            NotSupported,
            "There is no external ATS to attach files to; results go out by webhook.",
        ),
        AddAttachmentToCandidate => row(
            NotesAndAttachments,
            "add_attachment_to_candidate",
            "_add_attachment_to_candidate(filename, candidate_id, pdf_b64)",
            NotSupported,
            "There is no external ATS to attach files to; results go out by webhook.",
        ),
        GetJobCustomFields => row(
            CustomFields,
            "get_job_custom_fields",
            "job custom fields (read)",
            NotSupported,
            "There is no underlying ATS to manage custom fields.",
        ),
        UpdateJobCustomFields => row(
            CustomFields,
            "update_job_custom_fields",
            "job custom fields (update)",
            NotSupported,
            "There is no underlying ATS to manage custom fields.",
        ),
        GetApplicationCustomFields => row(
            CustomFields,
            "get_application_custom_fields",
            "application custom fields (read)",
            NotSupported,
            "There is no underlying ATS to manage custom fields.",
        ),
        UpdateApplicationCustomFields => row(
            CustomFields,
            "update_application_custom_fields",
            "application custom fields (update)",
            NotSupported,
            "There is no underlying ATS to manage custom fields.",
        ),
        GetCandidateCustomFields => row(
            CustomFields,
            "get_candidate_custom_fields",
            "candidate custom fields (read)",
            NotSupported,
            "There is no underlying ATS to manage custom fields.",
        ),
        UpdateCandidateCustomFields => row(
            CustomFields,
            "update_candidate_custom_fields",
            "candidate custom fields (update)",
            NotSupported,
            "There is no underlying ATS to manage custom fields.",
        ),
        PostCallResults => row(
            Results,
            "post_call_results",
            "post_call_results(application, results)",
            Supported,
            "Overridden: records the results and queues the result webhook (in one transaction) instead of writing back to an ATS.",
        ),
    }
}

/// The whole table, in contract order.
pub fn table() -> Vec<Capability> {
    AtsMethod::ALL.iter().map(|m| capability(*m)).collect()
}

/// The provider's configuration, as on the platform's provider page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProviderConfig {
    /// The provider's identifier in the platform's provider enum.
    pub provider: Provider,
    #[schema(example = "Minimal implementation (webhook-based)")]
    pub implementation_type: &'static str,
    /// The format of ATS notes; `N/A` because notes are not written.
    #[schema(example = "N/A")]
    pub note_format: &'static str,
    pub supports_disposition_reasons: bool,
    pub supports_all_application_stages: bool,
    /// How data comes back to the organisation.
    #[schema(example = "webhook")]
    pub integration_type: &'static str,
    #[schema(example = "production_ready")]
    pub status: &'static str,
}

pub const PUBLIC_API: ProviderConfig = ProviderConfig {
    provider: Provider::PublicApi,
    implementation_type: "Minimal implementation (webhook-based)",
    note_format: "N/A",
    supports_disposition_reasons: false,
    supports_all_application_stages: false,
    integration_type: "webhook",
    status: "production_ready",
};

/// The coverage page, `spec/ats-coverage.md`.
pub fn coverage_markdown() -> String {
    let c = PUBLIC_API;
    let yes_no = |b: bool| if b { "Supported" } else { "Not supported" };
    let mut out = String::new();
    out.push_str("# ATS coverage: `public_api`\n\n");
    out.push_str(
        "Generated from the capability table in `src/ats/capabilities.rs` by `cargo xtask spec`; do not edit.\n\n",
    );
    out.push_str(
        "The Public API integration is not a traditional ATS integration: organisations push jobs and candidates in\n",
    );
    out.push_str(
        "through the Public API and receive interview results by webhook. Unsupported methods return a typed\n",
    );
    out.push_str("`Unsupported` error naming the provider, the method and the reason, and change nothing.\n\n");
    out.push_str("## Configuration\n\n| Property | Value |\n|---|---|\n");
    out.push_str(&format!("| Provider enum | `{}` |\n", c.provider));
    out.push_str(&format!("| Implementation type | {} |\n", c.implementation_type));
    out.push_str(&format!("| Note format | {} |\n", c.note_format));
    out.push_str(&format!("| Disposition reasons | {} |\n", yes_no(c.supports_disposition_reasons)));
    out.push_str(&format!("| All application stages | {} |\n", yes_no(c.supports_all_application_stages)));
    out.push_str("| Integration type | Webhook |\n");
    out.push_str("| Status | Production ready |\n\n");
    out.push_str("## Feature coverage\n");
    let mut group = None;
    for row in table() {
        if group != Some(row.group) {
            group = Some(row.group);
            out.push_str(&format!(
                "\n### {}\n\n| Method | Documented as | Status | Note |\n|---|---|---|---|\n",
                row.group.title()
            ));
        }
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            row.name,
            row.documented_as,
            row.support.label(),
            row.note
        ));
    }
    let supported = table().iter().filter(|r| r.support != Support::NotSupported).count();
    out.push_str(&format!("\n{supported} of {} methods are supported.\n", AtsMethod::ALL.len()));
    out
}
