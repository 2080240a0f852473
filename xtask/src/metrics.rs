//! `cargo xtask metrics`: `/metrics` as Prometheus itself reads it. Runs the API test that
//! scrapes a server after traffic on every route kind (`observability::metrics_count_…`), on
//! SQLite and, when one answers, on PostgreSQL, writing each scrape under `target/ci/metrics/`;
//! then `promtool check metrics` (Debian's `prometheus` package) parses and lints each one.
//!
//! Without promtool (`PROMTOOL`, default `promtool` on the PATH) the stage is skipped loudly,
//! in CI too: `.ci/run` installs it first when it can.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::ci::{Postgres, ci_postgres};

const TEST: &str = "observability::metrics_count_requests_by_route_template_method_and_status_class";

pub fn run(root: &Path) -> Result<String, String> {
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    if !Command::new(&promtool).arg("--version").output().is_ok_and(|o| o.status.success()) {
        let why = format!("no {promtool} (apt-get install prometheus)");
        eprintln!("\n*** the metrics exposition check is SKIPPED: {why} ***\n");
        return Ok(format!("SKIPPED: {why}"));
    }
    let work = root.join("target/ci/metrics");
    let _ = std::fs::remove_dir_all(&work);
    crate::tools::create(&work)?;
    let mut scrapes = vec![("SQLite", work.join("scrape-sqlite.prom"))];
    scrape_once(root, &scrapes[0].1, None)?;
    match ci_postgres()? {
        Postgres::At { url, .. } => {
            let file = work.join("scrape-postgres.prom");
            scrape_once(root, &file, Some(&url))?;
            scrapes.push(("PostgreSQL", file));
        }
        Postgres::Absent(why) => eprintln!("\n*** the PostgreSQL scrape is SKIPPED: {why} ***\n"),
    }
    let mut checked = Vec::new();
    for (store, file) in scrapes {
        let text = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let mut child = Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {promtool}: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            std::io::Write::write_all(&mut stdin, &text).map_err(|e| format!("cannot feed {promtool}: {e}"))?;
        }
        let out = child.wait_with_output().map_err(|e| format!("{promtool} failed: {e}"))?;
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        // promtool answers lint problems on its output with a zero or non-zero status
        // depending on its version; any word from it is a failure.
        if !out.status.success() || !said.trim().is_empty() {
            return Err(format!("promtool check metrics rejected the {store} scrape ({}):\n{said}", file.display()));
        }
        let samples = String::from_utf8_lossy(&text).lines().filter(|l| !l.starts_with('#')).count();
        checked.push(format!("{store} {samples} samples"));
    }
    Ok(format!("promtool check metrics: clean ({})", checked.join(", ")))
}

/// Runs the scraping test on SQLite (`database_url` `None`) or on PostgreSQL.
fn scrape_once(root: &Path, scrape: &Path, database_url: Option<&str>) -> Result<(), String> {
    let mut cmd = Command::new("cargo");
    cmd.args(["test", "--quiet", "--test", "api", TEST, "--", "--exact"])
        .current_dir(root)
        .env("PUBLIC_API_METRICS_SCRAPE", scrape)
        .env_remove("PUBLIC_API_TEST_DATABASE_URL");
    if let Some(url) = database_url {
        cmd.env("PUBLIC_API_TEST_DATABASE_URL", url);
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo test: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{TEST} failed")) }
}
