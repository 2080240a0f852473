//! `cargo xtask kit`: the partners' conformance-pack runners (`simulator/kit/`). Exports a pack
//! with `webhook-sim check --export`, then runs each runner's own tests against it: the Python
//! runner with pytest, the Node.js one with `node --test`. Each drives a correct receiver, which
//! must pass every case, and a broken one, which must fail exactly the cases of its flaws; both
//! verify with the `standardwebhooks` package of their language (pinned in `tools/`).

use std::path::Path;
use std::process::Command;

use crate::tools::{self, copy, create, step};

/// The secret the exported pack is signed with: a test secret, as a partner's would be.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub fn run(root: &Path) -> Result<String, String> {
    let work = root.join("target/kit");
    let _ = std::fs::remove_dir_all(&work);
    create(&work)?;
    let pack = work.join("pack.json");
    step(
        Command::new("cargo")
            .args(["run", "--quiet", "-p", "webhook-sim", "--", "check", "--export"])
            .arg(&pack)
            .args(["--secret", SECRET])
            .current_dir(root),
        "webhook-sim check --export",
    )?;
    let mut done = Vec::new();
    match tools::python_kit(root)? {
        Some(bin) => {
            step(
                Command::new(bin.join("python"))
                    .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
                    .current_dir(root.join("simulator/kit/python"))
                    .env("PYTHONDONTWRITEBYTECODE", "1")
                    .env("CONFORMANCE_PACK", &pack),
                "the Python runner's tests (pytest)",
            )?;
            done.push("Python runner ok");
        }
        None => done.push("Python runner skipped"),
    }
    match tools::node(root)? {
        Some(bin) => {
            let dir = create(&work.join("node"))?;
            for file in ["webhook-conformance.mjs", "receivers.mjs", "runner.test.mjs"] {
                copy(&root.join("simulator/kit/node").join(file), &dir.join(file))?;
            }
            // The receivers import `standardwebhooks` from the pinned tools.
            tools::link_node_modules(&bin, &dir)?;
            step(
                Command::new("node")
                    .args(["--test", "--test-reporter=dot", "runner.test.mjs"])
                    .current_dir(&dir)
                    .env("CONFORMANCE_PACK", &pack),
                "the Node.js runner's tests (node --test)",
            )?;
            done.push("Node.js runner ok");
        }
        None => done.push("Node.js runner skipped"),
    }
    Ok(done.join("; "))
}
