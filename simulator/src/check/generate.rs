//! Valid payloads generated from the published schemas, for the `generated` group: optional
//! fields left out or `null`, numbers at their bounds, short and long strings of non-ASCII text,
//! empty and long arrays. A seeded generator makes the same bytes for the same seed, and every
//! payload is checked against its schema before it is sent.

use serde_json::{Map, Value, json};

/// A small deterministic generator (SplitMix64): the same seed gives the same payloads on every
/// machine and version of this crate's dependencies.
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, stream: u64) -> Rng {
        Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `len` bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Text with characters outside ASCII, as names, transcripts and reasoning carry.
const WORDS: [&str; 10] =
    ["Zoë", "Ångström", "naïve", "日本語", "Ελληνικά", "😀", "O'Brien", "“quoted”", "tab\there", "line\nbreak"];

/// One valid payload of the event type whose schema is `root`.
pub(crate) fn payload(root: &Value, rng: &mut Rng) -> Value {
    value(root, root, rng, 0)
}

fn value(root: &Value, schema: &Value, rng: &mut Rng, depth: usize) -> Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let target = reference.strip_prefix('#').and_then(|pointer| root.pointer(pointer)).unwrap_or(&Value::Null);
        return value(root, target, rng, depth + 1);
    }
    if let Some(constant) = schema.get("const") {
        return constant.clone();
    }
    if let Some(values) = schema["enum"].as_array().filter(|v| !v.is_empty()) {
        return values[rng.below(values.len() as u64) as usize].clone();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(arms) = schema[key].as_array().filter(|a| !a.is_empty()) {
            // An open enum's last arm is "any other string"; the known values come first and are
            // what a receiver meets today.
            let pick = if schema.get("x-open-enum").is_some() { 0 } else { rng.below(arms.len() as u64) as usize };
            return value(root, &arms[pick], rng, depth + 1);
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.contains(&"null") && rng.chance(40) {
        return Value::Null;
    }
    match types.iter().find(|t| **t != "null").copied().unwrap_or("object") {
        "object" => object(root, schema, rng, depth),
        "array" => {
            let long = if depth > 6 { 2 } else { 12 };
            let len = [0, 1, long][rng.below(3) as usize];
            let min = schema["minItems"].as_u64().unwrap_or(0) as usize;
            let len = len.max(min).min(schema["maxItems"].as_u64().map_or(usize::MAX, |m| m as usize));
            Value::Array((0..len).map(|_| value(root, &schema["items"], rng, depth + 1)).collect())
        }
        "string" => string(schema, rng),
        "integer" => integer(schema, rng),
        "number" => {
            let (min, max) = (schema["minimum"].as_f64().unwrap_or(0.0), schema["maximum"].as_f64().unwrap_or(1e6));
            json!([min, max, min + (max - min) * (rng.below(1000) as f64 / 1000.0)][rng.below(3) as usize])
        }
        "boolean" => Value::Bool(rng.chance(50)),
        _ => Value::Null,
    }
}

fn object(root: &Value, schema: &Value, rng: &mut Rng, depth: usize) -> Value {
    let required: Vec<&str> = schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut out = Map::new();
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        if required.contains(&name.as_str()) || rng.chance(50) {
            out.insert(name.clone(), value(root, property, rng, depth + 1));
        }
    }
    if let Some(values) = schema["additionalProperties"].as_object() {
        for i in 0..rng.below(4) {
            let key = format!("{}_{i}", WORDS[rng.below(WORDS.len() as u64) as usize]);
            out.insert(key, value(root, &Value::Object(values.clone()), rng, depth + 1));
        }
    }
    Value::Object(out)
}

fn string(schema: &Value, rng: &mut Rng) -> Value {
    if schema["format"] == "date-time" {
        let seconds = 1_800_000_000 + rng.below(100_000_000) as i64;
        let at = jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        return Value::String(at.to_string());
    }
    let words = [0, 1, 3, 400][rng.below(4) as usize];
    let min = schema["minLength"].as_u64().unwrap_or(0) as usize;
    let mut text: Vec<&str> = (0..words).map(|_| WORDS[rng.below(WORDS.len() as u64) as usize]).collect();
    while text.join(" ").chars().count() < min {
        text.push("x");
    }
    Value::String(text.join(" "))
}

fn integer(schema: &Value, rng: &mut Rng) -> Value {
    let bound = match schema["format"].as_str() {
        Some("uint8") => 255,
        Some("uint16") => 65_535,
        Some("uint32") => u32::MAX as i64,
        _ => 1_000_000,
    };
    let min = schema["minimum"].as_i64().unwrap_or(0);
    let max = schema["maximum"].as_i64().unwrap_or(bound).min(bound);
    let picked = [min, max, min + rng.below((max - min).max(0) as u64 + 1) as i64][rng.below(3) as usize];
    json!(picked)
}
