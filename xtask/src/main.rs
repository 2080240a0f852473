//! `cargo xtask`: project chores in Rust, so they run wherever cargo does.
//!
//! - `cargo xtask spec [--check]`: write (or compare) the generated files under `spec/`.
//! - `cargo xtask validate-spec`: openapi-spec-validator and redocly lint on `spec/openapi.json`.
//! - `cargo xtask schemathesis`: Schemathesis against a live server (xtask/src/live.rs).
//! - `cargo xtask clients`: generated TypeScript and Python clients round-trip against a live
//!   server (xtask/src/clients.rs).
//! - `cargo xtask browser [--screenshots]`: /docs and /console in Debian's Chromium
//!   (xtask/src/browser.rs); `--screenshots` refreshes the README's console screenshots.
//! - `cargo xtask kit`: the conformance-pack runners in Python and Node.js (xtask/src/kit.rs).
//! - `cargo xtask metrics`: `/metrics` scrapes checked by `promtool check metrics` (xtask/src/metrics.rs).
//! - `cargo xtask breaking [--base REF]`: the breaking-change gate (xtask/src/breaking.rs).
//! - `cargo xtask bench [--quick] [--store postgres]`: the benchmarks (bench/), release build;
//!   `--quick` is a smoke run; other flags go to the bench (`cargo xtask bench --help`).
//! - `cargo xtask ci`: everything CI runs, stage by stage, stopping at the first failure.

mod breaking;
mod browser;
mod ci;
mod clients;
mod kit;
mod live;
mod metrics;
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["spec"] => spec_write(),
        ["spec", "--check"] => spec_check(),
        ["ci"] => ci::run(&project_root()),
        ["validate-spec"] => validate_spec(),
        ["bench", flags @ ..] => bench(flags),
        ["schemathesis"] => finish("schemathesis: no failures", live::run(&project_root())),
        ["clients"] => finish("clients:", clients::run(&project_root())),
        ["browser"] => finish("browser: ok", browser::run(&project_root(), false)),
        ["browser", "--screenshots"] => finish("browser: ok", browser::run(&project_root(), true)),
        ["kit"] => finish("kit:", kit::run(&project_root())),
        ["metrics"] => finish("metrics:", metrics::run(&project_root())),
        ["breaking"] => breaking_gate("HEAD~1"),
        ["breaking", "--base", base] => breaking_gate(base),
        _ => {
            eprintln!(
                "usage: cargo xtask spec [--check] | validate-spec | schemathesis | clients | browser [--screenshots] | kit | metrics | breaking [--base REF] | bench [--quick] [--store postgres] | ci"
            );
            ExitCode::from(2)
        }
    }
}

/// Prints how a stage ended: `label` and its note on success, the error otherwise.
fn finish(label: &str, result: Result<String, String>) -> ExitCode {
    match result {
        Ok(note) => {
            println!("{label} {note}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

fn spec_write() -> ExitCode {
    let root = project_root();
    let dir = root.join(public_api::spec_files::SPEC_DIR);
    let _ = std::fs::remove_dir_all(&dir);
    for file in public_api::spec_files::generate() {
        let path = root.join(&file.path);
        if let Some(parent) = path.parent()
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            eprintln!("error: cannot create {}: {e}", parent.display());
            return ExitCode::FAILURE;
        }
        if let Err(e) = std::fs::write(&path, &file.contents) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", file.path);
    }
    ExitCode::SUCCESS
}

fn spec_check() -> ExitCode {
    let problems = public_api::spec_files::check(&project_root());
    if problems.is_empty() {
        println!("spec/ matches the code");
        return ExitCode::SUCCESS;
    }
    for p in &problems {
        eprintln!("spec drift: {p}");
    }
    eprintln!("run `cargo xtask spec` and commit the result");
    ExitCode::FAILURE
}

/// Lints `spec/openapi.json` with `openapi-spec-validator` (PyPI) and `redocly lint` (npm, with
/// `redocly.yaml` and its ignore file), each at the version pinned in `tools/`.
fn validate_spec() -> ExitCode {
    let root = project_root();
    let spec = root.join("spec/openapi.json").display().to_string();
    let checks: [(&str, tools::Installer, &str, Vec<String>); 2] = [
        ("openapi-spec-validator", tools::python, "openapi-spec-validator", vec![spec.clone()]),
        (
            "redocly lint",
            tools::node,
            "redocly",
            vec!["lint".into(), spec, "--config".into(), root.join("redocly.yaml").display().to_string()],
        ),
    ];
    for (name, install, program, args) in checks {
        let bin = match install(&root) {
            Ok(Some(bin)) => bin,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("error: cannot install {name}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let status = Command::new(bin.join(program))
            .args(&args)
            .current_dir(&root)
            .env("REDOCLY_TELEMETRY", "off")
            .env("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true")
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("error: {name} found problems in spec/openapi.json (see above)");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Fails when `spec/openapi.json` breaks clients compared with its version at `base`, unless
/// `info.version` has a new major version.
fn breaking_gate(base: &str) -> ExitCode {
    let root = project_root();
    let shown = Command::new("git").args(["show", &format!("{base}:spec/openapi.json")]).current_dir(&root).output();
    let old_text = match shown {
        Ok(o) if o.status.success() => o.stdout,
        _ => {
            println!("no spec/openapi.json at {base}; nothing to compare");
            return ExitCode::SUCCESS;
        }
    };
    let parse = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes);
    let (Ok(old), Ok(new)) = (
        parse(&old_text),
        std::fs::read(root.join("spec/openapi.json"))
            .map_err(|e| e.to_string())
            .and_then(|b| parse(&b).map_err(|e| e.to_string())),
    ) else {
        eprintln!("error: cannot read one of the specs as JSON");
        return ExitCode::FAILURE;
    };
    let changes = breaking::breaking_changes(&old, &new);
    let (old_version, new_version) =
        (old["info"]["version"].as_str().unwrap_or("0"), new["info"]["version"].as_str().unwrap_or("0"));
    if changes.is_empty() {
        println!("no breaking change against {base}");
        return ExitCode::SUCCESS;
    }
    if breaking::is_major_bump(old_version, new_version) {
        println!(
            "{} breaking changes against {base}, allowed by the version bump {old_version} -> {new_version}",
            changes.len()
        );
        return ExitCode::SUCCESS;
    }
    for c in &changes {
        eprintln!("breaking: {c}");
    }
    eprintln!(
        "these changes break clients; keep compatibility, or bump info.version from {old_version} to a new major version"
    );
    ExitCode::FAILURE
}

/// Builds the server, the simulator and the bench, then runs the bench with `flags`; its report
/// goes to `target/bench/report.json` (`report-postgres.json` for `--store postgres`). The full
/// run uses the release profile; `--quick` (a smoke test of the bench itself, run by CI) uses the
/// debug build the tests already made.
fn bench(flags: &[&str]) -> ExitCode {
    let root = project_root();
    let quick = flags.contains(&"--quick");
    let (profile, dir) = if quick { ("dev", "target/debug") } else { ("release", "target/release") };
    let built = Command::new("cargo")
        .args([
            "build",
            "--quiet",
            "--profile",
            profile,
            "-p",
            "public-api",
            "-p",
            "webhook-sim",
            "-p",
            "public-api-bench",
        ])
        .current_dir(&root)
        .status();
    if !built.is_ok_and(|s| s.success()) {
        eprintln!("error: building the bench failed");
        return ExitCode::FAILURE;
    }
    let mut run = Command::new(root.join(dir).join("public-api-bench"));
    run.arg("--bin-dir").arg(root.join(dir)).arg("--out-dir").arg(root.join("target/bench")).args(flags);
    match run.current_dir(&root).status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}
