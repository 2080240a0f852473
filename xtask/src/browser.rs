//! `cargo xtask browser [--screenshots]`: the served pages in a real browser. Starts a server on
//! a random port and runs `clients/browser/*.test.mjs` with `node --test`: the API docs
//! (`docs.test.mjs`) and the developer console (`console.test.mjs`, which starts its own
//! `webhook-sim receive` and runs axe-core, both pinned in `tools/package.json`).
//! playwright-core drives Debian's Chromium, never a browser of its own. Screenshots go to
//! `target/browser/`; `--screenshots` also copies the console's into `docs/screenshots/`, where
//! the README shows them.
//!
//! Without Chromium (`CHROMIUM`, default `/usr/bin/chromium`) the stage is skipped loudly, in CI
//! too: `.ci/run` installs it first when it can.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{live, tools};

/// The screenshots the README shows.
const SCREENSHOTS: &[&str] = &[
    "console-overview.png",
    "console-application.png",
    "console-deliveries.png",
    "console-delivery.png",
    "console-phone.png",
];

/// The test files, run in one `node --test`.
const TESTS: &[&str] = &["docs.test.mjs", "console.test.mjs"];

pub fn run(root: &Path, update_screenshots: bool) -> Result<String, String> {
    let chromium = std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into());
    if !chromium.exists() {
        let why = format!("no Chromium at {} (apt-get install chromium)", chromium.display());
        eprintln!("\n*** browser tests are SKIPPED: {why} ***\n");
        return Ok(format!("SKIPPED: {why}"));
    }
    let Some(bin) = tools::node(root)? else { return Ok("skipped".into()) };
    live::build_server(root)?;
    tools::step(
        Command::new("cargo").args(["build", "--quiet", "-p", "webhook-sim"]).current_dir(root),
        "cargo build -p webhook-sim",
    )?;
    let work = root.join("target/browser");
    let _ = std::fs::remove_dir_all(&work);
    tools::create(&work)?;
    for test in TESTS {
        tools::copy(&root.join("clients/browser").join(test), &work.join(test))?;
    }
    tools::link_node_modules(&bin, &work)?;
    // Receivers on loopback; interviews wait for the page's "complete now".
    let extra = ["--webhook-allow-cidr", "127.0.0.1/32", "--interview-delay", "3600"];
    let (server, url, key) = live::start_server(root, &work.join("data"), &extra)?;
    let status = Command::new("node")
        .arg("--test")
        .args(TESTS)
        .current_dir(&work)
        .env("PUBLIC_API_URL", &url)
        .env("PUBLIC_API_KEY", &key)
        .env("SCREENSHOT_DIR", &work)
        .env("CHROMIUM", &chromium)
        .env("WEBHOOK_SIM", root.join("target/debug/webhook-sim"))
        .env("AXE", work.join("node_modules/axe-core/axe.min.js"))
        .status()
        .map_err(|e| format!("cannot run node: {e}"))?;
    drop(server);
    if status.success() {
        if update_screenshots {
            let shots = tools::create(&root.join("docs/screenshots"))?;
            for name in SCREENSHOTS {
                tools::copy(&work.join(name), &shots.join(name))?;
            }
            return Ok(format!("(screenshots in {}, copied to {})", work.display(), shots.display()));
        }
        Ok(format!("(screenshots in {})", work.display()))
    } else {
        Err(format!("the browser test failed (screenshots, if any, in {})", work.display()))
    }
}
