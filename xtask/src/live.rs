//! `cargo xtask schemathesis`: the spec checked from the outside. Starts the server on 127.0.0.1
//! with a fresh data dir, runs Schemathesis (pinned in `tools/requirements.txt`) against it with
//! every phase and every check, a fixed seed (`PUBLIC_API_SCHEMATHESIS_SEED` for another) and
//! bounded examples, and stops the server by its pid.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Every check Schemathesis has, positive and negative data included: the spec must state every
/// rule the server enforces, and the server must enforce every rule the spec states.
const CHECKS: &str = "all";

/// `revoke_api_key` could revoke the run's own key and turn the rest of the run into 401s, so it
/// runs afterwards in a second pass of its own, beside `create_api_key`, whose link gives the
/// stateful phase keys of its own to revoke.
const LAST_OPERATIONS: &[&str] = &["revoke_api_key"];

/// The seed CI uses; `PUBLIC_API_SCHEMATHESIS_SEED` tries another.
const DEFAULT_SEED: &str = "1";

/// Kills the server when the run ends, however it ends.
pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run(root: &Path) -> Result<String, String> {
    let Some(bin) = crate::tools::python(root)? else { return Ok("skipped".into()) };
    build_server(root)?;
    let work = root.join("target/ci/schemathesis");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let (server, url, key) = start_server(root, &work.join("data"), &[])?;
    let seed = std::env::var("PUBLIC_API_SCHEMATHESIS_SEED").unwrap_or_else(|_| DEFAULT_SEED.to_owned());
    let main_pass = run_pass(root, &bin, &work, &url, &key, &seed, Pass::AllBut(LAST_OPERATIONS))?;
    let last_pass = run_pass(root, &bin, &work, &url, &key, &seed, Pass::Only(&["create_api_key", "revoke_api_key"]))?;
    drop(server);
    let report = work.join("report").display().to_string();
    if main_pass && last_pass {
        Ok(format!("(seed {seed}; every check; reports in {report})"))
    } else {
        Err(format!("schemathesis found failures with seed {seed} (see above; JUnit reports in {report})"))
    }
}

/// Builds `target/debug/public-api`.
pub fn build_server(root: &Path) -> Result<(), String> {
    let status = Command::new("cargo")
        .args(["build", "--quiet", "--bin", "public-api"])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if status.success() { Ok(()) } else { Err("cargo build --bin public-api failed".into()) }
}

/// Which operations one pass runs.
enum Pass<'a> {
    AllBut(&'a [&'a str]),
    Only(&'a [&'a str]),
}

/// Runs Schemathesis once: every phase, every check, the hooks of `tools/schemathesis_hooks.py`.
/// Whether it found nothing.
fn run_pass(
    root: &Path,
    bin: &Path,
    work: &Path,
    url: &str,
    key: &str,
    seed: &str,
    pass: Pass,
) -> Result<bool, String> {
    let mut cmd = Command::new(bin.join("schemathesis"));
    let report_dir = work.join("report").join(match pass {
        Pass::AllBut(_) => "main",
        Pass::Only(_) => "last",
    });
    cmd.arg("run")
        .arg(root.join("spec/openapi.json"))
        .args(["--url", url, "--header", &format!("Authorization: Bearer {key}")])
        .args(["--phases", "examples,coverage,fuzzing,stateful", "--checks", CHECKS])
        .args(["--seed", seed, "--max-examples", "40", "--workers", "1", "--generation-database", "none"])
        .args(["--report", "junit", "--report-dir"])
        .arg(report_dir)
        .arg("--no-color")
        // The hooks give each request an Idempotency-Key of its own (see the file for why).
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .env("PYTHONPATH", root.join("tools"))
        .current_dir(work);
    match pass {
        Pass::AllBut(operations) => {
            for operation in operations {
                cmd.args(["--exclude-operation-id", operation]);
            }
        }
        Pass::Only(operations) => {
            for operation in operations {
                cmd.args(["--include-operation-id", operation]);
            }
        }
    }
    let status = cmd.status().map_err(|e| format!("cannot run schemathesis: {e}"))?;
    Ok(status.success())
}

/// Starts `public-api serve` on a free port and reads its address and first API key from the
/// start-up banner.
/// `extra` flags go after the fixed ones. The server always runs sandboxed: tools make endpoints
/// with public URLs, and the sandbox keeps every delivery on this machine (attempts elsewhere
/// fail as blocked, without connecting).
pub fn start_server(root: &Path, data: &Path, extra: &[&str]) -> Result<(Server, String, String), String> {
    let mut child = Command::new(root.join("target/debug/public-api"))
        .args(["serve", "--addr", "127.0.0.1:0", "--rate-limit", "0", "--webhook-sandbox", "--data-dir"])
        .arg(data)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start target/debug/public-api: {e}"))?;
    let stdout = child.stdout.take().ok_or("the server has no stdout")?;
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut key = None;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(start) = line.find("tenzo_pk_") {
                key = Some(line[start..].trim().to_owned());
            }
            if let (Some(rest), Some(key)) = (line.strip_prefix("Listening on "), &key) {
                let url = rest.split_whitespace().next().unwrap_or_default().to_owned();
                let _ = tx.send((url, key.clone()));
            }
        }
    });
    let (url, key) = rx
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| "the server did not print its address and key within 60 s".to_owned())?;
    Ok((server, url, key))
}
