//! The grader's verdicts and their three forms: a terminal table, JSON, and JUnit XML. A failing
//! case carries a `curl` command that sends its requests again, byte for byte.

use std::time::Duration;

use serde::Serialize;

use super::cases::{Case, Expect, Group};
use super::{Answered, Outcome, Probe};

/// The verdict on one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub group: Group,
    pub title: String,
    pub expected: Expect,
    /// A failing required case fails the check; an optional one is only reported.
    pub required: bool,
    pub passed: bool,
    /// The status of each request of the case (`null` when there was no answer).
    pub statuses: Vec<Option<u16>>,
    /// What went wrong, or what was seen, in a sentence.
    pub detail: String,
    pub elapsed_ms: u64,
    /// Shell commands that repeat the case's requests exactly (failing cases only). The signature
    /// timestamps are those of the run: a receiver checking freshness rejects them 5 minutes later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curl: Option<String>,
}

/// The whole grade.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub started_at: String,
    pub duration_ms: u64,
    pub passed: usize,
    pub failed: usize,
    pub required_failed: usize,
    pub cases: Vec<CaseResult>,
}

/// How long answers may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub timeout: Duration,
    /// The burst case's tighter limit per answer.
    pub latency_budget: Option<Duration>,
}

pub(crate) fn judge(
    case: &Case,
    url: &str,
    probes: &[Probe],
    answers: &[Answered],
    elapsed: Duration,
    limits: Limits,
) -> CaseResult {
    let timeout = limits.timeout;
    let statuses: Vec<Option<u16>> =
        answers.iter().map(|a| if let Outcome::Status(s) = a.outcome { Some(s) } else { None }).collect();
    let mut problem = answers.iter().enumerate().find_map(|(i, answer)| {
        let which = if answers.len() > 1 { format!("request {} ", i + 1) } else { String::new() };
        match (case.expect, &answer.outcome) {
            (_, Outcome::TimedOut) => Some(format!("{which}got no answer within {} s", timeout.as_secs_f64())),
            (_, Outcome::Failed(e)) => Some(format!("{which}failed: {e}")),
            (Expect::Accept, Outcome::Status(s)) if !(200..300).contains(s) => {
                Some(format!("{which}answered {s}; a valid delivery must get 2xx, or the sender retries it"))
            }
            (Expect::Reject, Outcome::Status(s)) if (200..300).contains(s) => {
                Some(format!("{which}answered {s}: the receiver accepted a request it must reject"))
            }
            (Expect::Reject, Outcome::Status(s)) if *s >= 500 => Some(format!(
                "{which}answered {s}; reject with 4xx, since a 5xx tells the sender to retry the forged request"
            )),
            (Expect::Reject, Outcome::Status(s)) if !(400..500).contains(s) => {
                Some(format!("{which}answered {s}; expected 4xx"))
            }
            _ => None,
        }
    });
    let latency = case.concurrent.then(|| Latency::of(answers));
    if let (None, Some(latency), Some(budget)) = (&problem, &latency, limits.latency_budget)
        && latency.max > budget
    {
        problem = Some(format!(
            "the slowest answer took {} ms, over the latency budget of {} ms ({latency})",
            latency.max.as_millis(),
            budget.as_millis()
        ));
    }
    let passed = problem.is_none();
    let detail = problem.map(|p| match &latency {
        Some(latency) if !p.contains("latency") => format!("{p} ({latency})"),
        _ => p,
    });
    let detail = detail.unwrap_or_else(|| {
        let shown: Vec<String> = statuses.iter().map(|s| s.map_or("-".into(), |s| s.to_string())).collect();
        if let Some(latency) = &latency {
            return format!("all {} accepted at once; {latency}", answers.len());
        }
        match (case.id.as_str(), case.expect) {
            ("robustness.duplicate_id", _) => {
                format!("both deliveries answered {}: the duplicate was handled", shown.join(" and "))
            }
            ("ordering.newest_first", _) => {
                format!("both answered {}: the older status after the newer was accepted", shown.join(" and "))
            }
            (_, Expect::Accept) => format!("accepted with {}", shown.join(", ")),
            (_, Expect::Reject) => format!("rejected with {}", shown.join(", ")),
        }
    });
    CaseResult {
        id: case.id.clone(),
        group: case.group,
        title: case.title.clone(),
        expected: case.expect,
        required: case.required,
        passed,
        statuses,
        detail,
        elapsed_ms: elapsed.as_millis() as u64,
        curl: (!passed).then(|| probes.iter().map(|p| curl(url, p)).collect::<Vec<_>>().join(" && ")),
    }
}

/// Answer times of a concurrent case.
#[derive(Debug, Clone, Copy)]
struct Latency {
    p50: Duration,
    p95: Duration,
    max: Duration,
}

impl Latency {
    fn of(answers: &[Answered]) -> Latency {
        let mut times: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
        times.sort();
        // Nearest rank: the smallest time with at least p% of the answers at or below it.
        let rank = |p: usize| times.get((times.len() * p).div_ceil(100).saturating_sub(1)).copied().unwrap_or_default();
        Latency { p50: rank(50), p95: rank(95), max: times.last().copied().unwrap_or_default() }
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(f, "latency p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms", ms(self.p50), ms(self.p95), ms(self.max))
    }
}

/// A `curl` command that sends `probe` to `url` with the exact bytes.
pub fn curl(url: &str, probe: &Probe) -> String {
    let mut cmd = format!("curl -sS -i -X POST {}", quote(url));
    for (name, value) in &probe.headers {
        cmd.push_str(&format!(" -H {}", quote(&format!("{name}: {value}"))));
    }
    cmd.push_str(&format!(" --data-binary {}", quote(&String::from_utf8_lossy(&probe.body))));
    cmd
}

/// POSIX shell single quoting: every byte stays literal.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

impl Report {
    pub(crate) fn new(target: &str, started_at: jiff::Timestamp, took: Duration, cases: Vec<CaseResult>) -> Report {
        let passed = cases.iter().filter(|c| c.passed).count();
        Report {
            target: target.to_owned(),
            started_at: format!("{:.3}", started_at),
            duration_ms: took.as_millis() as u64,
            passed,
            failed: cases.len() - passed,
            required_failed: cases.iter().filter(|c| c.required && !c.passed).count(),
            cases,
        }
    }

    /// Whether every required case passed.
    pub fn success(&self) -> bool {
        self.required_failed == 0
    }

    /// One line per case, then the total and the reproducers of failing cases.
    pub fn table(&self) -> String {
        let width = self.cases.iter().map(|c| c.id.len()).max().unwrap_or(0);
        let mut out = format!("{:<4}  {:<width$}  {:<6}  {:<9}  detail\n", "", "case", "expect", "got");
        for c in &self.cases {
            let mark = match (c.passed, c.required) {
                (true, _) => "PASS",
                (false, true) => "FAIL",
                (false, false) => "warn",
            };
            let expected = match c.expected {
                Expect::Accept => "2xx",
                Expect::Reject => "4xx",
            };
            let got: Vec<String> = c.statuses.iter().map(|s| s.map_or("-".into(), |s| s.to_string())).collect();
            // A burst's sixteen equal answers read better counted.
            let got = match got.as_slice() {
                [first, rest @ ..] if rest.len() > 1 && rest.iter().all(|g| g == first) => {
                    format!("{}x{first}", got.len())
                }
                _ => got.join(","),
            };
            out.push_str(&format!("{mark:<4}  {:<width$}  {expected:<6}  {got:<9}  {}\n", c.id, c.detail));
        }
        out.push_str(&format!(
            "\n{} passed, {} failed ({} required) in {:.1} s against {}\n",
            self.passed,
            self.failed,
            self.required_failed,
            self.duration_ms as f64 / 1000.0,
            self.target
        ));
        for c in self.cases.iter().filter(|c| !c.passed) {
            if let Some(curl) = &c.curl
                && curl.len() <= 4096
            {
                out.push_str(&format!("\nreproduce {}:\n  {curl}\n", c.id));
            }
        }
        out
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// JUnit XML: one test case per check case; a failing optional case is reported as skipped so
    /// it does not fail a CI job on its own.
    pub fn junit(&self) -> String {
        use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
        let mut suite = TestSuite::new("webhook-sim check");
        for c in &self.cases {
            let status = if c.passed {
                TestCaseStatus::success()
            } else if c.required {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(c.detail.clone());
                if let Some(curl) = &c.curl {
                    status.set_description(curl.clone());
                }
                status
            } else {
                let mut status = TestCaseStatus::skipped();
                status.set_message(format!("optional case failed: {}", c.detail));
                status
            };
            let mut test = TestCase::new(c.id.clone(), status);
            test.set_classname(format!("{:?}", c.group).to_lowercase());
            test.set_time(Duration::from_millis(c.elapsed_ms));
            suite.add_test_case(test);
        }
        let mut report = quick_junit::Report::new("webhook-sim");
        report.add_test_suite(suite);
        report.to_string().unwrap_or_default()
    }
}
