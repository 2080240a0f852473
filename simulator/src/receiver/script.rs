//! The response script: how the receiver answers each request, so tests and partners can rehearse
//! failures (status sequences, delays, timeouts, resets, `Retry-After`, redirects, `410`) and
//! reproducible chaos.
//!
//! A script is JSON, for example:
//!
//! ```json
//! { "rules": [ { "path": "/hooks/flaky", "replies": [ { "status": 500 }, { "fault": "reset" } ] } ],
//!   "chaos": { "seed": 7, "rate": 0.1 } }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How the receiver answers. Chaos is drawn first; otherwise the first rule that matches answers;
/// otherwise the default: 200 for a verified delivery, 400 for a bad signature.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chaos: Option<Chaos>,
}

/// Replies for matching requests, in order: the first counted request gets `replies[0]`, the next
/// `replies[1]`, and once the list is used up, `then` (or the default answer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// An exact path, or a prefix ending in `*`. Absent: every path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only deliveries whose payload has this `type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// What advances the sequence.
    #[serde(default)]
    pub count: Count,
    #[serde(default)]
    pub replies: Vec<Reply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<Reply>,
}

/// What a rule's sequence counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Count {
    /// Attempts of one message (requests with the same `webhook-id`): "fail the first N attempts".
    #[default]
    Attempt,
    /// Every request the rule matches, whatever its message: "the next N requests fail".
    Request,
}

/// One answer. Every field is optional; an empty reply is the default answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// The status code; absent: 200 for a verified delivery, 400 otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Wait this long before answering.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
    /// Wait up to this much longer, drawn from the chaos seed (or the message id).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub jitter_ms: u64,
    /// A `Retry-After` header value (seconds or an HTTP date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
    /// A `Location` header, for 3xx answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A failure below HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Never answer; the sender's timeout decides.
    Timeout,
    /// Close the connection with a TCP reset instead of answering.
    Reset,
}

/// Seeded random faults: each attempt of each message fails with probability `rate`, and the same
/// seed gives the same faults for the same messages whatever order they arrive in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chaos {
    pub seed: u64,
    pub rate: f64,
    /// The faults to draw from; absent: 500, 503 with `Retry-After: 1`, 429 and a reset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Reply>,
}

impl Chaos {
    fn faults(&self) -> Vec<Reply> {
        if !self.faults.is_empty() {
            return self.faults.clone();
        }
        vec![
            Reply { status: Some(500), ..Reply::default() },
            Reply { status: Some(503), retry_after: Some("1".into()), ..Reply::default() },
            Reply { status: Some(429), ..Reply::default() },
            Reply { fault: Some(Fault::Reset), ..Reply::default() },
        ]
    }
}

/// What the receiver knows about a request when it picks the answer.
pub(crate) struct Request<'a> {
    pub path: &'a str,
    pub event_type: Option<&'a str>,
    pub webhook_id: Option<&'a str>,
    /// 1 for the first request with this `webhook-id`.
    pub attempt: u32,
    /// Receiver-wide request number, for requests without a `webhook-id`.
    pub seq: u64,
}

/// The script with its per-rule request counters.
#[derive(Debug, Default)]
pub(crate) struct Running {
    pub script: Script,
    requests_per_rule: Vec<usize>,
}

impl Running {
    pub fn new(script: Script) -> Running {
        let requests_per_rule = vec![0; script.rules.len()];
        Running { script, requests_per_rule }
    }

    /// The reply for `req` and the jitter drawn for it; `None`: the default answer.
    pub fn reply(&mut self, req: &Request<'_>) -> (Option<Reply>, u64) {
        let key = match req.webhook_id {
            Some(id) => hash(id.as_bytes(), u64::from(req.attempt)),
            None => hash(b"", req.seq),
        };
        if let Some(chaos) = &self.script.chaos {
            let draw = mix(key ^ chaos.seed);
            let unit = (draw >> 11) as f64 / (1u64 << 53) as f64;
            if unit < chaos.rate {
                let faults = chaos.faults();
                let pick = &faults[(mix(draw) % faults.len() as u64) as usize];
                return (Some(pick.clone()), jitter(pick, mix(draw ^ 1)));
            }
        }
        let seed = self.script.chaos.as_ref().map_or(0, |c| c.seed);
        for (i, rule) in self.script.rules.iter().enumerate() {
            if !rule.matches(req) {
                continue;
            }
            let n = match rule.count {
                Count::Attempt => req.attempt.saturating_sub(1) as usize,
                Count::Request => {
                    self.requests_per_rule[i] += 1;
                    self.requests_per_rule[i] - 1
                }
            };
            let reply = rule.replies.get(n).or(rule.then.as_ref()).cloned();
            let jitter = reply.as_ref().map_or(0, |r| jitter(r, mix(key ^ seed)));
            return (reply, jitter);
        }
        (None, 0)
    }
}

impl Rule {
    fn matches(&self, req: &Request<'_>) -> bool {
        let path_ok = match self.path.as_deref() {
            None => true,
            Some(p) => match p.strip_suffix('*') {
                Some(prefix) => req.path.starts_with(prefix),
                None => req.path == p,
            },
        };
        let type_ok = self.event_type.as_deref().is_none_or(|t| req.event_type == Some(t));
        path_ok && type_ok
    }
}

fn jitter(reply: &Reply, draw: u64) -> u64 {
    if reply.jitter_ms == 0 { 0 } else { draw % (reply.jitter_ms + 1) }
}

/// FNV-1a over the bytes, then the number: a stable key for one attempt of one message.
fn hash(bytes: &[u8], n: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes.iter().chain(&n.to_le_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The SplitMix64 finaliser: spreads a key over all 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(path: &'a str, id: &'a str, attempt: u32) -> Request<'a> {
        Request { path, event_type: Some("interview.completed"), webhook_id: Some(id), attempt, seq: 0 }
    }

    #[test]
    fn sequences_count_attempts_or_requests() {
        let fail = |s| Reply { status: Some(s), ..Reply::default() };
        let mut running = Running::new(Script {
            rules: vec![
                Rule { path: Some("/a".into()), replies: vec![fail(500), fail(502)], ..Rule::default() },
                Rule {
                    path: Some("/b*".into()),
                    count: Count::Request,
                    replies: vec![fail(503)],
                    then: Some(fail(202)),
                    ..Rule::default()
                },
            ],
            chaos: None,
        });
        assert_eq!(running.reply(&req("/a", "m1", 1)).0, Some(fail(500)));
        assert_eq!(running.reply(&req("/a", "m2", 1)).0, Some(fail(500)));
        assert_eq!(running.reply(&req("/a", "m1", 2)).0, Some(fail(502)));
        assert_eq!(running.reply(&req("/a", "m1", 3)).0, None);
        assert_eq!(running.reply(&req("/b/x", "m1", 1)).0, Some(fail(503)));
        assert_eq!(running.reply(&req("/b/y", "m2", 1)).0, Some(fail(202)));
        assert_eq!(running.reply(&req("/c", "m1", 1)).0, None);
    }

    #[test]
    fn chaos_is_reproducible_and_near_its_rate() {
        let script = Script { rules: vec![], chaos: Some(Chaos { seed: 7, rate: 0.25, faults: vec![] }) };
        let draw = |script: &Script| {
            let mut running = Running::new(script.clone());
            (0..2000).map(|i| running.reply(&req("/", &format!("msg_{i}"), 1)).0).collect::<Vec<_>>()
        };
        let first = draw(&script);
        assert_eq!(first, draw(&script));
        let faults = first.iter().filter(|r| r.is_some()).count();
        assert!((400..600).contains(&faults), "{faults} faults of 2000 at rate 0.25");
        let other = Script { chaos: Some(Chaos { seed: 8, rate: 0.25, faults: vec![] }), ..script };
        assert_ne!(first, draw(&other));
    }

    #[test]
    fn scripts_read_from_json_reject_unknown_fields() {
        let script: Script = serde_json::from_str(
            r#"{"rules":[{"path":"/x","replies":[{"status":503,"retry_after":"2"},{"fault":"timeout"}]}]}"#,
        )
        .unwrap();
        assert_eq!(script.rules[0].replies[1].fault, Some(Fault::Timeout));
        assert!(serde_json::from_str::<Script>(r#"{"rules":[{"stauts":500}]}"#).is_err());
    }
}
