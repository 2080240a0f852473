//! `cargo xtask browser`: the served API docs in a real browser. Starts a server on a random
//! port and runs `clients/browser/docs.test.mjs` with `node --test`: playwright-core (pinned in
//! `tools/package.json`) drives Debian's Chromium, never a browser of its own. Screenshots go
//! to `target/browser/`.
//!
//! Without Chromium (`CHROMIUM`, default `/usr/bin/chromium`) the stage is skipped loudly, in CI
//! too: `.ci/run` installs it first when it can.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{live, tools};

pub fn run(root: &Path) -> Result<String, String> {
    let chromium = std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into());
    if !chromium.exists() {
        let why = format!("no Chromium at {} (apt-get install chromium)", chromium.display());
        eprintln!("\n*** browser tests are SKIPPED: {why} ***\n");
        return Ok(format!("SKIPPED: {why}"));
    }
    let Some(bin) = tools::node(root)? else { return Ok("skipped".into()) };
    live::build_server(root)?;
    let work = root.join("target/browser");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let test = work.join("docs.test.mjs");
    tools::copy(&root.join("clients/browser/docs.test.mjs"), &test)?;
    tools::link_node_modules(&bin, &work)?;
    let (server, url, key) = live::start_server(root, &work.join("data"), &[])?;
    let status = Command::new("node")
        .args(["--test", "docs.test.mjs"])
        .current_dir(&work)
        .env("PUBLIC_API_URL", &url)
        .env("PUBLIC_API_KEY", &key)
        .env("SCREENSHOT_DIR", &work)
        .env("CHROMIUM", &chromium)
        .status()
        .map_err(|e| format!("cannot run node: {e}"))?;
    drop(server);
    if status.success() {
        Ok(format!("(screenshots in {})", work.display()))
    } else {
        Err(format!("the browser test failed (screenshots, if any, in {})", work.display()))
    }
}
