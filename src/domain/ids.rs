//! Identifiers: a short type prefix, an underscore and a time-ordered UUID in hex.

use uuid::Uuid;

/// The kinds of object we hand out identifiers for, with their prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Organization,
    ApiKey,
    Job,
    Candidate,
    Application,
    Event,
    Endpoint,
    Delivery,
    Audit,
}

impl IdKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            IdKind::Organization => "org",
            IdKind::ApiKey => "key",
            IdKind::Job => "job",
            IdKind::Candidate => "cand",
            IdKind::Application => "app",
            IdKind::Event => "evt",
            IdKind::Endpoint => "ep",
            IdKind::Delivery => "del",
            IdKind::Audit => "aud",
        }
    }

    /// A new identifier of this kind, e.g. `job_0192d5e7c1b27a3f8e6b8c2f4d1a9e70`.
    pub fn new_id(self) -> String {
        format!("{}_{}", self.prefix(), Uuid::now_v7().simple())
    }

    /// Whether `id` has the shape of an identifier of this kind (lowercase hex, as issued; see
    /// [`FieldRule::id`](super::rules::FieldRule::id)). Identifiers that fail this
    /// check can never exist, so callers answer "not found" without asking the store.
    pub fn matches(self, id: &str) -> bool {
        id.strip_prefix(self.prefix())
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_match_their_kind_only() {
        let id = IdKind::Job.new_id();
        assert!(IdKind::Job.matches(&id));
        assert!(!IdKind::Application.matches(&id));
        assert!(!IdKind::Job.matches("job_"));
        assert!(!IdKind::Job.matches("job_zz"));
    }
}
