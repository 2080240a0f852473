//! Candidates and their resumes. Both arrive with the application that names them; the
//! `public_api` provider never looks a candidate up anywhere else.

use base64::Engine as _;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::validate::Violations;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_RESUME_TEXT_CHARS: usize = 100_000;
/// The longest resume file, as base64: 1,747,626 groups of four characters, which decode to at
/// most 5,242,878 bytes (just under 5 MiB). A limit on the text, unlike one on the decoded
/// bytes, can be stated in the spec as `maxLength`.
pub const MAX_RESUME_BASE64_CHARS: usize = 6_990_504;
pub const MAX_FILENAME_CHARS: usize = 255;

/// The file types a resume may have.
pub const RESUME_CONTENT_TYPES: [&str; 5] = [
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/rtf",
    "text/plain",
];

/// A person who applied to one or more of your jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Candidate {
    /// Our identifier for the candidate, prefixed `cand_`.
    #[schema(example = "cand_0192d5e7c1b27a3f8e6b8c2f4d1a9e71")]
    pub id: String,
    /// Your identifier for the candidate, unique within your organisation. An application
    /// naming an existing `external_id` reuses (and updates) that candidate.
    #[schema(example = "C-77")]
    pub external_id: Option<String>,
    #[schema(example = "Ada")]
    pub first_name: String,
    #[schema(example = "Lovelace")]
    pub last_name: String,
    #[schema(example = "ada@example.com")]
    pub email: Option<String>,
    /// E.164 phone number the interviewer calls.
    #[schema(example = "+14155550123")]
    pub phone: Option<String>,
    /// IANA time zone, used to call at a sensible local time.
    #[schema(example = "America/Los_Angeles")]
    pub timezone: Option<String>,
    /// Whether a resume was supplied; read it from `GET /v1/candidates/{candidate_id}/resume`.
    pub has_resume: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The validated contact details of a candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateFields {
    pub external_id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub timezone: Option<String>,
}

impl CandidateFields {
    pub fn into_candidate(self, id: String, has_resume: bool, now: Timestamp) -> Candidate {
        Candidate {
            id,
            external_id: self.external_id,
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            phone: self.phone,
            timezone: self.timezone,
            has_resume,
            created_at: now,
            updated_at: now,
        }
    }

    /// Overwrites the contact details of an existing candidate (the latest application wins).
    pub fn update(self, c: &mut Candidate, now: Timestamp) {
        let changed = c.first_name != self.first_name
            || c.last_name != self.last_name
            || c.email != self.email
            || c.phone != self.phone
            || c.timezone != self.timezone;
        c.first_name = self.first_name;
        c.last_name = self.last_name;
        c.email = self.email;
        c.phone = self.phone;
        c.timezone = self.timezone;
        if changed {
            c.updated_at = now;
        }
    }
}

/// A resume file, base64-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResumeFile {
    #[schema(example = "ada-lovelace.pdf")]
    pub filename: String,
    /// One of `application/pdf`, `application/msword`,
    /// `application/vnd.openxmlformats-officedocument.wordprocessingml.document`,
    /// `application/rtf`, `text/plain`.
    #[schema(example = "application/pdf")]
    pub content_type: String,
    /// Size of the decoded file in bytes.
    #[schema(example = 48213)]
    pub size_bytes: u64,
    /// The file's bytes, standard base64 with padding.
    #[schema(example = "JVBERi0xLjQK...")]
    pub content_base64: String,
}

/// The resume as it was supplied: plain text or a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ResumeContent {
    /// Plain text.
    Text {
        /// The resume text.
        text: String,
    },
    /// A document.
    File(ResumeFile),
}

/// The resume that came with the candidate's latest application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Resume {
    #[schema(example = "cand_0192d5e7c1b27a3f8e6b8c2f4d1a9e71")]
    pub candidate_id: String,
    pub content: ResumeContent,
    /// When this resume was received.
    pub received_at: Timestamp,
}

/// Validates a resume given as text.
pub fn validate_resume_text(v: &mut Violations, field: &str, text: &str) -> ResumeContent {
    ResumeContent::Text { text: v.text(field, text, MAX_RESUME_TEXT_CHARS, true) }
}

/// Validates a resume given as a base64 file; returns the content with its decoded size.
pub fn validate_resume_file(
    v: &mut Violations,
    field: &str,
    filename: &str,
    content_type: &str,
    content_base64: &str,
) -> ResumeContent {
    let filename = v.text(&format!("{field}.filename"), filename, MAX_FILENAME_CHARS, false);
    if filename.contains(['/', '\\']) {
        v.push(format!("{field}.filename"), "invalid_format", "must be a file name, not a path");
    }
    let content_type = content_type.to_owned();
    if !RESUME_CONTENT_TYPES.contains(&content_type.as_str()) {
        v.push(
            format!("{field}.content_type"),
            "invalid_value",
            format!("must be one of {}", RESUME_CONTENT_TYPES.join(", ")),
        );
    }
    let mut size_bytes = 0;
    let field_b64 = format!("{field}.content_base64");
    if content_base64.is_empty() {
        v.push(field_b64, "required", "must not be empty");
    } else if content_base64.len() > MAX_RESUME_BASE64_CHARS {
        v.push(
            field_b64,
            "too_long",
            format!("must be at most {MAX_RESUME_BASE64_CHARS} characters (a file of just under 5 MiB)"),
        );
    } else {
        // The pattern is the spec's; a string it accepts always decodes.
        match base64::engine::general_purpose::STANDARD.decode(content_base64.as_bytes()) {
            Ok(bytes) if super::rules::BASE64.is_match(content_base64) => size_bytes = bytes.len() as u64,
            _ => v.push(field_b64, "invalid_format", "must be standard base64 with padding"),
        }
    }
    ResumeContent::File(ResumeFile { filename, content_type, size_bytes, content_base64: content_base64.to_owned() })
}
