//! `cargo xtask`: project chores in Rust, so they run wherever cargo does.
//!
//! - `cargo xtask spec [--check]`: write (or compare) the generated files under `spec/`.
//! - `cargo xtask validate-spec`: openapi-spec-validator and redocly lint on `spec/openapi.json`.
//! - `cargo xtask schemathesis`: Schemathesis against a live server (xtask/src/live.rs).
//! - `cargo xtask clients`: generated TypeScript and Python clients round-trip against a live
//!   server (xtask/src/clients.rs).
//! - `cargo xtask browser`: /docs in Debian's Chromium (xtask/src/browser.rs).
//! - `cargo xtask breaking [--base REF]`: the breaking-change gate (xtask/src/breaking.rs).
//! - `cargo xtask bench [--quick] [--store postgres]`: the benchmarks (bench/), release build;
//!   `--quick` is a smoke run; other flags go to the bench (`cargo xtask bench --help`).
//! - `cargo xtask ci`: everything CI runs, stage by stage, stopping at the first failure.

mod breaking;
mod browser;
mod clients;
mod live;
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["spec"] => spec_write(),
        ["spec", "--check"] => spec_check(),
        ["ci"] => ci(),
        ["validate-spec"] => validate_spec(),
        ["bench", flags @ ..] => bench(flags),
        ["schemathesis"] => match live::run(&project_root()) {
            Ok(note) => {
                println!("schemathesis: no failures {note}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        ["clients"] => match clients::run(&project_root()) {
            Ok(note) => {
                println!("clients: {note}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        ["browser"] => match browser::run(&project_root()) {
            Ok(note) => {
                println!("browser: ok {note}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        ["breaking"] => breaking_gate("HEAD~1"),
        ["breaking", "--base", base] => breaking_gate(base),
        _ => {
            eprintln!(
                "usage: cargo xtask spec [--check] | validate-spec | schemathesis | clients | browser | breaking [--base REF] | bench [--quick] [--store postgres] | ci"
            );
            ExitCode::from(2)
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

/// One CI stage: a name and what it runs.
struct Stage {
    name: &'static str,
    run: Run,
}

enum Run {
    /// A command, with environment variables whose values are paths under the project root.
    Command { program: &'static str, args: &'static [&'static str], env: &'static [(&'static str, &'static str)] },
    /// A check written here, reproduced by running `cargo xtask ci` again.
    Check(fn(&Path) -> Result<String, String>),
}

/// Where the test stage lists every snapshot the tests used (insta appends one path per assertion).
const SNAPSHOT_REFERENCES: &str = "target/ci/snapshot-references.txt";

const STAGES: &[Stage] = &[
    Stage { name: "format", run: Run::Command { program: "cargo", args: &["fmt", "--all", "--check"], env: &[] } },
    Stage {
        name: "clippy",
        run: Run::Command {
            program: "cargo",
            args: &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
            env: &[],
        },
    },
    Stage {
        name: "tests",
        run: Run::Command {
            program: "cargo",
            args: &["test", "--workspace"],
            env: &[("INSTA_SNAPSHOT_REFERENCES_FILE", SNAPSHOT_REFERENCES)],
        },
    },
    Stage { name: "tests (pg)", run: Run::Check(postgres_tests) },
    Stage { name: "snapshots", run: Run::Check(unreferenced_snapshots) },
    Stage { name: "spec drift", run: Run::Command { program: "cargo", args: &["xtask", "spec", "--check"], env: &[] } },
    Stage { name: "breaking", run: Run::Command { program: "cargo", args: &["xtask", "breaking"], env: &[] } },
    Stage { name: "spec lint", run: Run::Command { program: "cargo", args: &["xtask", "validate-spec"], env: &[] } },
    Stage { name: "schemathesis", run: Run::Command { program: "cargo", args: &["xtask", "schemathesis"], env: &[] } },
    Stage { name: "clients", run: Run::Command { program: "cargo", args: &["xtask", "clients"], env: &[] } },
    Stage { name: "browser", run: Run::Command { program: "cargo", args: &["xtask", "browser"], env: &[] } },
    Stage {
        name: "bench smoke",
        run: Run::Command { program: "cargo", args: &["xtask", "bench", "--quick"], env: &[] },
    },
    Stage { name: "bench smoke (pg)", run: Run::Check(postgres_bench_smoke) },
];

/// Where the PostgreSQL test matrix runs unless `PUBLIC_API_TEST_DATABASE_URL` says otherwise.
const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The PostgreSQL the `(pg)` stages use: `PUBLIC_API_TEST_DATABASE_URL` (default
/// [`DEFAULT_TEST_DATABASE_URL`]) and its `host:port`; `Ok(Err(why))` when they are skipped,
/// because no server answers or the variable is set empty. The README's test command must work
/// on a machine with only the Rust toolchain, so a missing server skips, loudly, not fails.
fn ci_postgres() -> Result<Result<(String, String), String>, String> {
    let url = std::env::var("PUBLIC_API_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned());
    if url.trim().is_empty() {
        return Ok(Err("PUBLIC_API_TEST_DATABASE_URL is set empty".into()));
    }
    let Some(addr) = postgres_address(&url) else {
        return Err(format!("PUBLIC_API_TEST_DATABASE_URL is not a postgres://user@host:port/db URL: {url}"));
    };
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(&addr.as_str())
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(3)).is_ok());
    if !reachable {
        return Ok(Err(format!("no PostgreSQL answers at {addr}")));
    }
    Ok(Ok((url, addr)))
}

fn skipped(what: &str, why: String) -> Result<String, String> {
    eprintln!("\n*** ci: {what} is SKIPPED: {why} ***\n");
    Ok(format!("SKIPPED: {why}"))
}

/// The API tests again, on PostgreSQL: each test in a schema of its own.
fn postgres_tests(root: &Path) -> Result<String, String> {
    let (url, addr) = match ci_postgres()? {
        Ok(found) => found,
        Err(why) => return skipped("the PostgreSQL test matrix", why),
    };
    let status = Command::new("cargo")
        .args(["test", "--test", "api"])
        .current_dir(root)
        .env("CI", "true")
        .env("PUBLIC_API_TEST_DATABASE_URL", &url)
        .env("INSTA_SNAPSHOT_REFERENCES_FILE", root.join(SNAPSHOT_REFERENCES))
        .status()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    if status.success() {
        Ok(format!("on {addr}"))
    } else {
        Err(format!("the API tests failed on PostgreSQL at {addr}"))
    }
}

/// The bench's smoke run on PostgreSQL (its stores are schemas made and dropped in the database).
fn postgres_bench_smoke(root: &Path) -> Result<String, String> {
    let (url, addr) = match ci_postgres()? {
        Ok(found) => found,
        Err(why) => return skipped("the bench smoke run on PostgreSQL", why),
    };
    let status = Command::new("cargo")
        .args(["xtask", "bench", "--quick", "--store", "postgres"])
        .current_dir(root)
        .env("CI", "true")
        .env("PUBLIC_API_BENCH_DATABASE_URL", &url)
        .env_remove("PUBLIC_API_TEST_DATABASE_URL")
        .status()
        .map_err(|e| format!("cannot run cargo xtask bench: {e}"))?;
    if status.success() { Ok(format!("on {addr}")) } else { Err(format!("the bench failed on PostgreSQL at {addr}")) }
}

/// `host:port` of a `postgres://user@host:port/db` URL (port 5432 when absent).
fn postgres_address(url: &str) -> Option<String> {
    let rest = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://"))?;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit('@').next()?;
    if host_port.is_empty() {
        return None;
    }
    Some(if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5432") })
}

/// Fails on a snapshot file no test used (a renamed or deleted test left it behind) and on
/// pending `.snap.new` files: insta's `--unreferenced=reject`, without needing cargo-insta.
/// Missing snapshots already fail the tests, since insta never writes them when `CI` is set.
fn unreferenced_snapshots(root: &Path) -> Result<String, String> {
    let references = std::fs::read_to_string(root.join(SNAPSHOT_REFERENCES))
        .map_err(|e| format!("cannot read {SNAPSHOT_REFERENCES} written by the test stage: {e}"))?;
    let used: std::collections::BTreeSet<PathBuf> =
        references.lines().filter_map(|line| std::fs::canonicalize(line).ok()).collect();
    let mut files = Vec::new();
    for dir in ["snapshots", "simulator/tests/sim/snapshots"] {
        let entries = std::fs::read_dir(root.join(dir)).map_err(|e| format!("cannot list {dir}: {e}"))?;
        files.extend(entries.filter_map(Result::ok).map(|e| e.path()));
    }
    let mut problems = Vec::new();
    for file in &files {
        let name = file.display();
        if name.to_string().ends_with(".snap.new") || name.to_string().ends_with(".pending-snap") {
            problems.push(format!("{name} is a pending snapshot: review it, then accept or delete it"));
        } else if name.to_string().ends_with(".snap") && !std::fs::canonicalize(file).is_ok_and(|f| used.contains(&f)) {
            problems.push(format!("{name} is not used by any test: delete it"));
        }
    }
    if problems.is_empty() { Ok(format!("{} snapshots, all used", files.len())) } else { Err(problems.join("\n")) }
}

fn ci() -> ExitCode {
    let root = project_root();
    let started = Instant::now();
    // The test stage appends to this file; start it empty so it lists only this run's snapshots.
    let _ = std::fs::create_dir_all(root.join("target/ci"));
    let _ = std::fs::remove_file(root.join(SNAPSHOT_REFERENCES));
    for stage in STAGES {
        let t = Instant::now();
        let (outcome, command) = match &stage.run {
            Run::Command { program, args, env } => {
                let mut cmd = Command::new(program);
                // The PostgreSQL matrix has its own stage; every other stage runs on SQLite.
                cmd.args(*args).current_dir(&root).env("CI", "true").env_remove("PUBLIC_API_TEST_DATABASE_URL");
                for (key, value) in *env {
                    cmd.env(key, root.join(value));
                }
                let command = format!("{program} {}", args.join(" "));
                let outcome = match cmd.status() {
                    Ok(s) if s.success() => Ok(String::new()),
                    Ok(s) => Err(s.to_string()),
                    Err(e) => Err(format!("cannot run `{command}`: {e}")),
                };
                (outcome, command)
            }
            Run::Check(check) => (check(&root), "cargo xtask ci".to_owned()),
        };
        let seconds = t.elapsed().as_secs_f64();
        match outcome {
            Ok(note) => println!("ci: {:<16} ok      {seconds:>7.1} s {note}", stage.name),
            Err(why) => {
                println!("ci: {:<16} FAILED  {seconds:>7.1} s", stage.name);
                for line in why.lines() {
                    println!("ci:   {line}");
                }
                println!("ci: reproduce with: CI=true {command}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("ci: all stages passed in {:.1} s", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
