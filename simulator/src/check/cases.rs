//! The cases the grader sends, from `research/webhooks.md` ("Partner conformance suite"): valid
//! events, attacks a receiver must reject, tolerance the standard requires, robustness, payloads
//! that change compatibly, events out of order, and a burst of concurrent deliveries.

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use super::Probe;
use super::generate::Rng;
use crate::SimError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Valid,
    Attack,
    Tolerance,
    Robustness,
    /// Payloads changed as the API may change them without a new version: new fields, new values
    /// of open enums.
    Compatibility,
    /// Events of one application arriving newest first.
    Ordering,
    /// As many concurrent deliveries as the server sends one endpoint at once.
    Burst,
    /// Valid payloads generated from the published schemas (seeded).
    Generated,
}

/// How many payloads the `generated` group makes per event type, and from which seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    pub per_type: usize,
    pub seed: u64,
}

impl Default for Generation {
    fn default() -> Generation {
        Generation { per_type: 5, seed: 1 }
    }
}

/// What the receiver must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Expect {
    /// Any 2xx, within the timeout, to every request of the case.
    #[serde(rename = "2xx")]
    Accept,
    /// Any 4xx: the request is forged or broken, and a 5xx would make a real sender retry it.
    #[serde(rename = "4xx")]
    Reject,
}

/// What a case's requests are built from: the secret, the signing time, and the source of the
/// ids and random bytes in them.
pub(crate) struct Env<'a> {
    pub secret: &'a str,
    pub now: i64,
    random: Rng,
}

impl<'a> Env<'a> {
    /// Fresh ids on every run, so a receiver that remembers ids across runs sees new messages.
    pub fn live(secret: &'a str, now: i64) -> Env<'a> {
        Env { secret, now, random: Rng::new(u64::from_le_bytes(crate::random_bytes()), 0) }
    }

    /// The same ids and bytes for the same seed and stream: a conformance pack is reproducible.
    pub fn seeded(secret: &'a str, now: i64, seed: u64, stream: u64) -> Env<'a> {
        Env { secret, now, random: Rng::new(seed, stream) }
    }

    fn new_id(&mut self) -> String {
        crate::msg_id(&self.random.bytes(16))
    }

    fn random_b64(&mut self, len: usize) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.random.bytes(len))
    }

    fn random_secret(&mut self) -> String {
        format!("whsec_{}", self.random_b64(24))
    }
}

type Build = Box<dyn Fn(&mut Env) -> Result<Vec<Probe>, SimError>>;

pub(crate) struct Case {
    pub id: String,
    pub group: Group,
    pub title: String,
    pub expect: Expect,
    pub required: bool,
    /// Send the case's requests all at once instead of one after another.
    pub concurrent: bool,
    pub build: Build,
}

/// The ids of every case, in the order they run.
pub fn case_ids() -> Vec<String> {
    all(Generation::default()).into_iter().map(|c| c.id).collect()
}

/// How many deliveries the server sends one endpoint at once, at most: the burst case's size.
pub const BURST: usize = 16;

pub(crate) fn all(generation: Generation) -> Vec<Case> {
    let mut cases: Vec<Case> = crate::event_types()
        .map(|event_type| {
            case(
                &format!("valid.{event_type}"),
                Group::Valid,
                &format!("a correctly signed {event_type} event"),
                Expect::Accept,
                move |env| Ok(vec![signed(env.secret, &env.new_id(), env.now, &payload(event_type, env.now)?)?]),
            )
        })
        .collect();
    cases.extend([
        case("attack.tampered_body", Group::Attack, "a body changed after signing", Expect::Reject, |env| {
            let body = payload("webhook.test", env.now)?;
            let mut probe = signed(env.secret, &env.new_id(), env.now, &body)?;
            probe.body = String::from_utf8_lossy(&body).replace("test event", "tost event").into_bytes();
            Ok(vec![probe])
        }),
        case(
            "attack.tampered_signature",
            Group::Attack,
            "a signature with one character changed",
            Expect::Reject,
            |env| {
                let mut probe = signed(env.secret, &env.new_id(), env.now, &payload("webhook.test", env.now)?)?;
                let signature = header_mut(&mut probe, "webhook-signature");
                let flipped = if signature.ends_with('A') { 'B' } else { 'A' };
                signature.pop();
                signature.push(flipped);
                Ok(vec![probe])
            },
        ),
        case("attack.wrong_secret", Group::Attack, "signed with another secret", Expect::Reject, |env| {
            Ok(vec![signed(&env.random_secret(), &env.new_id(), env.now, &payload("webhook.test", env.now)?)?])
        }),
        missing("webhook-id"),
        missing("webhook-timestamp"),
        missing("webhook-signature"),
        case(
            "attack.stale_timestamp",
            Group::Attack,
            "signed 10 minutes ago (tolerance is 5)",
            Expect::Reject,
            |env| Ok(vec![signed(env.secret, &env.new_id(), env.now - 600, &payload("webhook.test", env.now - 600)?)?]),
        ),
        case(
            "attack.future_timestamp",
            Group::Attack,
            "signed 10 minutes in the future",
            Expect::Reject,
            |env| Ok(vec![signed(env.secret, &env.new_id(), env.now + 600, &payload("webhook.test", env.now)?)?]),
        ),
        case(
            "tolerance.unknown_signature_version",
            Group::Tolerance,
            "unknown signature versions beside a valid v1",
            Expect::Accept,
            |env| {
                let mut probe = signed(env.secret, &env.new_id(), env.now, &payload("webhook.test", env.now)?)?;
                let signature = header_mut(&mut probe, "webhook-signature");
                *signature = format!("v1a,{} v2,{} {signature}", env.random_b64(64), env.random_b64(32));
                Ok(vec![probe])
            },
        ),
        case(
            "tolerance.unknown_event_type",
            Group::Tolerance,
            "an event type this receiver has not seen before",
            Expect::Accept,
            |env| {
                let body = serde_json::json!({
                    "api_version": "2026-12-01",
                    "data": { "application_id": "app_0192d5e7c1b27a3f8e6b8c2f4d1a9e72" },
                    "id": "evt_0192d5e7c1b27a3f8e6b8c2f4d1a9e99",
                    "timestamp": rfc3339(env.now),
                    "type": "interview.rescheduled",
                });
                Ok(vec![signed(env.secret, &env.new_id(), env.now, body.to_string().as_bytes())?])
            },
        ),
        case(
            "tolerance.rotation",
            Group::Tolerance,
            "two v1 signatures during a secret rotation, the valid one second",
            Expect::Accept,
            |env| {
                let body = payload("webhook.test", env.now)?;
                let id = env.new_id();
                let old = crate::signature::signature(&env.random_secret(), &id, env.now, &body)?;
                let mut probe = signed(env.secret, &id, env.now, &body)?;
                let signature = header_mut(&mut probe, "webhook-signature");
                *signature = format!("{old} {signature}");
                Ok(vec![probe])
            },
        ),
        case(
            "robustness.duplicate_id",
            Group::Robustness,
            "the same message delivered twice (a retry after a lost answer)",
            Expect::Accept,
            |env| {
                let body = payload("interview.completed", env.now)?;
                let id = env.new_id();
                Ok(vec![signed(env.secret, &id, env.now, &body)?, signed(env.secret, &id, env.now + 1, &body)?])
            },
        ),
        case(
            "robustness.byte_exact",
            Group::Robustness,
            "a body with unusual whitespace and unicode escapes, verified over its exact bytes",
            Expect::Accept,
            |env| {
                let body = format!(
                    "{{ \"api_version\" : \"2026-12-01\",\n  \"data\": {{\"endpoint_id\":\"ep_0192d5e7c1b27a3f8e6b8c2f4d1a9e76\",\t\"message\": \"Caf\\u00e9 \\u2014 \\ud83d\\ude00 \\\"quoted\\\" \\/ slash\" }},\r\n  \"id\":\"evt_0192d5e7c1b27a3f8e6b8c2f4d1a9e83\", \"timestamp\": \"{}\",\"type\":\"webhook.test\"   }}\n",
                    rfc3339(env.now)
                );
                Ok(vec![signed(env.secret, &env.new_id(), env.now, body.as_bytes())?])
            },
        ),
        Case {
            required: false,
            ..case(
                "robustness.large_payload",
                Group::Robustness,
                "a 256 KiB event (long transcripts happen)",
                Expect::Accept,
                |env| {
                    let mut value: Value = parse_example("webhook.test")?;
                    value["timestamp"] = Value::String(rfc3339(env.now));
                    value["data"]["message"] = Value::String("long transcript line. ".repeat(256 * 1024 / 22));
                    Ok(vec![signed(env.secret, &env.new_id(), env.now, value.to_string().as_bytes())?])
                },
            )
        },
    ]);
    cases.extend(compatibility());
    cases.push(case(
        "ordering.newest_first",
        Group::Ordering,
        "two status changes of one application, the newer (completed) before the older (in_progress)",
        Expect::Accept,
        |env| {
            let newer = status_changed(env.now, "in_progress", "completed")?;
            let older = status_changed(env.now - 30, "calling", "in_progress")?;
            Ok(vec![
                signed(env.secret, &env.new_id(), env.now, &newer)?,
                signed(env.secret, &env.new_id(), env.now, &older)?,
            ])
        },
    ));
    cases.push(Case {
        concurrent: true,
        ..case(
            "burst.concurrent",
            Group::Burst,
            &format!("{BURST} valid deliveries at once, as many as the server sends one endpoint"),
            Expect::Accept,
            |env| {
                let types: Vec<&str> = crate::event_types().collect();
                (0..BURST)
                    .map(|i| {
                        let mut value = parse_example(types[i % types.len()])?;
                        value["timestamp"] = Value::String(rfc3339(env.now));
                        value["id"] = Value::String(format!("evt_0192d5e7c1b27a3f8e6b8c2f4d1a{i:04x}"));
                        signed(env.secret, &env.new_id(), env.now, &to_bytes(&value)?)
                    })
                    .collect()
            },
        )
    });
    cases.extend(crate::event_types().enumerate().map(|(index, event_type)| {
        case(
            &format!("generated.{event_type}"),
            Group::Generated,
            &format!(
                "{} {event_type} payloads generated from its schema (seed {})",
                generation.per_type, generation.seed
            ),
            Expect::Accept,
            move |env| {
                generated_payloads(event_type, index as u64, generation)?
                    .iter()
                    .map(|body| signed(env.secret, &env.new_id(), env.now, body))
                    .collect()
            },
        )
    }));
    cases
}

/// The generated payloads of one event type: the same bytes for the same seed, each valid
/// against the published schema (a generator that made an invalid one tries another).
pub fn generated_payloads(event_type: &str, stream: u64, generation: Generation) -> Result<Vec<Vec<u8>>, SimError> {
    let schema_text = crate::EVENTS.iter().find(|(t, _, _)| *t == event_type).map(|(_, s, _)| *s);
    let schema_text = schema_text.ok_or_else(|| SimError::UnknownType(event_type.into()))?;
    let schema: Value = serde_json::from_str(schema_text).map_err(|e| SimError::NotJson(e.to_string()))?;
    let mut rng = super::generate::Rng::new(generation.seed, stream);
    let mut payloads = Vec::with_capacity(generation.per_type);
    let mut tries = 0;
    while payloads.len() < generation.per_type {
        tries += 1;
        let value = super::generate::payload(&schema, &mut rng);
        if crate::events::validate_value(&value)?.is_empty() {
            payloads.push(to_bytes(&value)?);
        } else if tries > 50 * generation.per_type.max(1) {
            return Err(SimError::NotJson(format!("cannot generate a valid {event_type} payload")));
        }
    }
    Ok(payloads)
}

/// Valid events with what a compatible change adds: fields the receiver has not seen, at the top,
/// inside `data` and deeper, and values of open enums it does not know.
fn compatibility() -> Vec<Case> {
    let changed = |id: &str, title: &str, event_type: &'static str, change: fn(&mut Value)| {
        case(id, Group::Compatibility, title, Expect::Accept, move |env| {
            let mut value = parse_example(event_type)?;
            value["timestamp"] = Value::String(rfc3339(env.now));
            change(&mut value);
            Ok(vec![signed(env.secret, &env.new_id(), env.now, &to_bytes(&value)?)?])
        })
    };
    vec![
        changed(
            "compatibility.unknown_top_level_field",
            "an event with a top-level field added in a later version",
            "interview.completed",
            |v| v["delivery_region"] = Value::String("eu-west".into()),
        ),
        changed(
            "compatibility.unknown_data_field",
            "an event with new fields inside `data` and inside a nested object",
            "interview.completed",
            |v| {
                v["data"]["interviewer_version"] = Value::String("2027.1".into());
                v["data"]["candidate"]["preferred_language"] = serde_json::json!({"code": "en-GB", "confidence": 0.98});
            },
        ),
        changed(
            "compatibility.unknown_enum_value",
            "an application status and a call outcome added in a later version (both enums are open)",
            "interview.failed",
            |v| {
                v["data"]["application"]["status"] = Value::String("on_hold".into());
                v["data"]["failure"]["call"]["outcomes"][0] = Value::String("transferred".into());
            },
        ),
    ]
}

/// An `application.status_changed` event of the example application, from `from` to `to`.
fn status_changed(at: i64, from: &str, to: &str) -> Result<Vec<u8>, SimError> {
    let mut value = parse_example("application.status_changed")?;
    value["id"] = Value::String(format!("evt_0192d5e7c1b27a3f8e6b8c2f4d1a{:04x}", at.rem_euclid(0x10000)));
    value["timestamp"] = Value::String(rfc3339(at));
    value["data"]["previous_status"] = Value::String(from.into());
    value["data"]["status"] = Value::String(to.into());
    value["data"]["application"]["status"] = Value::String(to.into());
    to_bytes(&value)
}

fn to_bytes(value: &Value) -> Result<Vec<u8>, SimError> {
    serde_json::to_vec(value).map_err(|e| SimError::NotJson(e.to_string()))
}

fn case(
    id: &str,
    group: Group,
    title: &str,
    expect: Expect,
    build: impl Fn(&mut Env) -> Result<Vec<Probe>, SimError> + 'static,
) -> Case {
    Case {
        id: id.to_owned(),
        group,
        title: title.to_owned(),
        expect,
        required: true,
        concurrent: false,
        build: Box::new(build),
    }
}

fn missing(header: &'static str) -> Case {
    case(
        &format!("attack.missing_{}", header.trim_start_matches("webhook-")),
        Group::Attack,
        &format!("a correctly signed event without the {header} header"),
        Expect::Reject,
        move |env| {
            let mut probe = signed(env.secret, &env.new_id(), env.now, &payload("webhook.test", env.now)?)?;
            probe.headers.retain(|(name, _)| name != header);
            Ok(vec![probe])
        },
    )
}

fn parse_example(event_type: &str) -> Result<Value, SimError> {
    serde_json::from_str(crate::example(event_type)?).map_err(|e| SimError::NotJson(e.to_string()))
}

/// The published example of `event_type`, stamped `now`, serialised compactly as the server does.
fn payload(event_type: &str, now: i64) -> Result<Vec<u8>, SimError> {
    let mut value = parse_example(event_type)?;
    value["timestamp"] = Value::String(rfc3339(now));
    serde_json::to_vec(&value).map_err(|e| SimError::NotJson(e.to_string()))
}

fn signed(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<Probe, SimError> {
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    headers.extend(crate::sign(secret, id, timestamp, body)?.into_iter().map(|(k, v)| (k.to_owned(), v)));
    Ok(Probe { headers, body: body.to_vec() })
}

fn header_mut<'a>(probe: &'a mut Probe, name: &str) -> &'a mut String {
    // Every probe is built by `signed`, which sets all three signature headers.
    let index = probe.headers.iter().position(|(n, _)| n == name).unwrap_or(0);
    &mut probe.headers[index].1
}

fn rfc3339(unix: i64) -> String {
    jiff::Timestamp::from_second(unix).map(|t| t.to_string()).unwrap_or_else(|_| "2026-12-01T00:00:00Z".into())
}
