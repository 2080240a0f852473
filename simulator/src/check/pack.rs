//! The conformance pack: every case of the grader written out as data, so a receiver can be tested
//! in-process, in any language, without HTTP and without this program. Requests are signed for
//! one fixed moment ([`PACK_TIME`]), and ids and random bytes come from the seed, so the same
//! options give the same file.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;

use super::cases::{Env, Expect, Group};
use super::{CheckConfig, CheckError};

/// The moment every request of a pack is signed for: 2027-01-15T08:00:00Z.
pub const PACK_TIME: i64 = 1_800_000_000;

/// The pack's format, for runners to check before they read it.
pub const PACK_FORMAT: &str = "webhook-sim-conformance-pack/1";

const CLOCK: &str = "Every request is signed for `timestamp` (Unix seconds), and the attack cases \
stale_timestamp and future_timestamp are signed 600 s before and after it. Run the pack with the \
receiver's clock pinned to `timestamp` (freezegun or time-machine in Python, \
mock.timers.enable({apis: ['Date'], now: timestamp * 1000}) in Node, an injected clock elsewhere): \
then every case is meaningful. With a live clock every case expecting 2xx fails as stale, and the \
two timestamp attacks pass whatever the receiver does. No case needs a live clock; use `webhook-sim \
check URL` to test a running receiver against the real time.";

const EXPECT: &str = "`2xx`: the receiver must answer every request of the case with a 2xx status. \
`4xx`: it must answer with a 4xx status; a 5xx is a failure, because a real sender retries it. A \
case that is not `required` is reported but does not fail the pack. A `concurrent` case's requests \
are meant to be handled at once (a burst); a duplicate-id case needs the receiver to keep its \
state between the case's requests.";

/// A whole pack, as written to the `--export` file.
#[derive(Debug, Serialize)]
pub struct Pack {
    pub format: &'static str,
    pub generator: String,
    /// The secret every valid request is signed with; the receiver under test verifies with it.
    pub secret: String,
    /// Unix seconds the requests are signed for.
    pub timestamp: i64,
    pub timestamp_rfc3339: String,
    pub clock: &'static str,
    pub expect: &'static str,
    /// The seed of ids, random bytes and generated payloads, and how many payloads per type.
    pub seed: u64,
    pub generated_per_type: usize,
    pub cases: Vec<PackCase>,
}

/// One case of the pack.
#[derive(Debug, Serialize)]
pub struct PackCase {
    pub id: String,
    pub group: Group,
    pub title: String,
    pub expect: Expect,
    pub required: bool,
    pub concurrent: bool,
    pub requests: Vec<PackRequest>,
}

/// One HTTP request, exactly as `check` would send it.
#[derive(Debug, Serialize)]
pub struct PackRequest {
    pub method: &'static str,
    /// Header names are lower case.
    pub headers: BTreeMap<String, String>,
    /// The exact body bytes, base64 (standard alphabet, padded).
    pub body_base64: String,
}

/// The cases `config` selects, with their requests built for [`PACK_TIME`] from `config.secret`
/// and `config.generation.seed`.
pub fn export(config: &CheckConfig) -> Result<Pack, CheckError> {
    crate::signature::signature(&config.secret, "msg_check", 0, b"{}")?;
    let seed = config.generation.seed;
    let mut cases = Vec::new();
    for (stream, case) in config.cases().into_iter().enumerate() {
        let probes = (case.build)(&mut Env::seeded(&config.secret, PACK_TIME, seed, stream as u64))?;
        let requests = probes
            .into_iter()
            .map(|probe| PackRequest {
                method: "POST",
                headers: probe.headers.into_iter().collect(),
                body_base64: base64::engine::general_purpose::STANDARD.encode(&probe.body),
            })
            .collect();
        cases.push(PackCase {
            id: case.id,
            group: case.group,
            title: case.title,
            expect: case.expect,
            required: case.required,
            concurrent: case.concurrent,
            requests,
        });
    }
    let at = jiff::Timestamp::from_second(PACK_TIME).map(|t| t.to_string()).unwrap_or_default();
    Ok(Pack {
        format: PACK_FORMAT,
        generator: format!("webhook-sim {}", env!("CARGO_PKG_VERSION")),
        secret: config.secret.clone(),
        timestamp: PACK_TIME,
        timestamp_rfc3339: at,
        clock: CLOCK,
        expect: EXPECT,
        seed,
        generated_per_type: config.generation.per_type,
        cases,
    })
}

impl Pack {
    /// The pack as pretty JSON with a final newline.
    pub fn json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}
