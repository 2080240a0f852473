//! `cargo xtask schemathesis`: the spec checked from the outside. Starts the server on 127.0.0.1
//! with a fresh data dir, runs Schemathesis (pinned in `tools/requirements.txt`) against it with
//! every phase, a fixed seed and bounded examples, and stops the server by its pid.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The checks that must pass with zero failures: no server errors, only documented status codes,
/// content types and headers, and bodies that match their schemas.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";

/// `revoke_api_key` would revoke the run's own key and turn the rest of the run into 401s; the
/// in-suite tests cover it.
const EXCLUDED_OPERATIONS: &[&str] = &["revoke_api_key"];

/// Kills the server when the run ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run(root: &Path) -> Result<String, String> {
    let Some(bin) = crate::tools::python(root)? else { return Ok("skipped".into()) };
    let status = Command::new("cargo")
        .args(["build", "--quiet", "--bin", "public-api"])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !status.success() {
        return Err("cargo build --bin public-api failed".into());
    }
    let work = root.join("target/ci/schemathesis");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let (server, url, key) = start_server(root, &work.join("data"))?;
    let mut cmd = Command::new(bin.join("schemathesis"));
    cmd.arg("run")
        .arg(root.join("spec/openapi.json"))
        .args(["--url", &url, "--header", &format!("Authorization: Bearer {key}")])
        .args(["--phases", "examples,coverage,fuzzing,stateful", "--checks", CHECKS])
        .args(["--seed", "1", "--max-examples", "20", "--workers", "1", "--generation-database", "none"])
        .args(["--report", "junit", "--report-dir"])
        .arg(work.join("report"))
        .arg("--no-color")
        .current_dir(&work);
    for operation in EXCLUDED_OPERATIONS {
        cmd.args(["--exclude-operation-id", operation]);
    }
    let status = cmd.status().map_err(|e| format!("cannot run schemathesis: {e}"))?;
    drop(server);
    if status.success() {
        Ok(format!("(report in {})", work.join("report").display()))
    } else {
        Err(format!("schemathesis found failures (see above; JUnit report in {})", work.join("report").display()))
    }
}

/// Starts `public-api serve` on a free port and reads its address and first API key from the
/// start-up banner.
fn start_server(root: &Path, data: &Path) -> Result<(Server, String, String), String> {
    let mut child = Command::new(root.join("target/debug/public-api"))
        .args(["serve", "--addr", "127.0.0.1:0", "--rate-limit", "0", "--data-dir"])
        .arg(data)
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
