//! The grader against receivers written in Python, as partners write them: a correct one passes
//! every case, and each broken one fails exactly the case that exposes its flaw.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use webhook_sim::check::{CheckConfig, Group, Report};

use crate::SECRET;

/// A running `partners/receiver.py`; killed when dropped.
struct Partner {
    child: Child,
    url: String,
}

impl Drop for Partner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the Python receiver with `flaw`, or `None` (said loudly) when there is no `python3`.
fn partner(flaw: &str) -> Option<Partner> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sim/partners/receiver.py");
    let Ok(mut child) = Command::new("python3").args([script, SECRET, flaw]).stdout(Stdio::piped()).spawn() else {
        eprintln!("SKIPPED: python3 is not installed, so the Python partner receivers were not graded");
        return None;
    };
    let mut port = String::new();
    BufReader::new(child.stdout.take()?).read_line(&mut port).ok()?;
    let url = format!("http://127.0.0.1:{}/webhooks", port.trim());
    Some(Partner { child, url })
}

async fn grade(partner: &Partner, only: &[Group], latency_budget: Option<Duration>) -> Report {
    let mut config = CheckConfig::new(partner.url.clone(), SECRET, Duration::from_secs(10));
    config.only = only.to_vec();
    config.latency_budget = latency_budget;
    webhook_sim::check::run(&config, |_| {}).await.unwrap()
}

fn failing(report: &Report) -> Vec<&str> {
    report.cases.iter().filter(|c| !c.passed).map(|c| c.id.as_str()).collect()
}

#[tokio::test]
async fn a_correct_python_receiver_passes_every_case() {
    let Some(p) = partner("none") else { return };
    let report = grade(&p, &[], Some(Duration::from_millis(1000))).await;
    assert_eq!(failing(&report), Vec::<&str>::new(), "{}", report.table());
}

#[tokio::test]
async fn a_receiver_rejecting_unknown_fields_fails_each_compatibility_case() {
    let Some(p) = partner("strict") else { return };
    let report = grade(&p, &[], None).await;
    assert_eq!(
        failing(&report),
        [
            "compatibility.unknown_top_level_field",
            "compatibility.unknown_data_field",
            "compatibility.unknown_enum_value"
        ],
        "{}",
        report.table()
    );
    let case = report.cases.iter().find(|c| c.id == "compatibility.unknown_data_field").unwrap();
    assert!(case.detail.contains("answered 422"), "{}", case.detail);
    assert!(case.curl.as_deref().unwrap().contains("interviewer_version"), "the reproducer sends the new field");
}

#[tokio::test]
async fn a_receiver_rejecting_an_older_status_fails_the_ordering_case() {
    let Some(p) = partner("order") else { return };
    let report = grade(&p, &[], None).await;
    assert_eq!(failing(&report), ["ordering.newest_first"], "{}", report.table());
    let case = &report.cases.iter().find(|c| c.id == "ordering.newest_first").unwrap();
    assert_eq!(case.statuses, [Some(204), Some(409)]);
    assert!(case.detail.contains("request 2 answered 409"), "{}", case.detail);
}

#[tokio::test]
async fn a_receiver_slow_under_concurrency_fails_the_burst_within_a_latency_budget() {
    let Some(p) = partner("slow_burst") else { return };
    let within_timeout = grade(&p, &[Group::Burst], None).await;
    assert_eq!(failing(&within_timeout), Vec::<&str>::new(), "2 s is within the 10 s timeout");
    let budgeted = grade(&p, &[Group::Burst], Some(Duration::from_millis(1000))).await;
    assert_eq!(failing(&budgeted), ["burst.concurrent"]);
    let case = &budgeted.cases[0];
    assert!(case.detail.contains("over the latency budget of 1000 ms"), "{}", case.detail);
    assert!(case.detail.contains("p50") && case.detail.contains("p95"), "{}", case.detail);
    assert_eq!(case.statuses.len(), webhook_sim::check::BURST);
}
