//! `cargo xtask ci`: every check CI runs, stage by stage, stopping at the first failure. A
//! stage that needs what this machine lacks (a PostgreSQL server) is skipped with a loud
//! message rather than failed, so the README's test command works with only the Rust toolchain.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// One CI stage: a name and what it runs.
struct Stage {
    name: &'static str,
    run: Run,
}

enum Run {
    /// A command, with environment variables whose values are paths under the project root.
    Command { program: &'static str, args: &'static [&'static str], env: &'static [(&'static str, &'static str)] },
    /// A check written here, reproduced by running `cargo xtask ci` again.
    Check(fn(&Path) -> Outcome),
}

/// How a stage ended, with a note for the summary line.
enum Outcome {
    Passed(String),
    /// Not run, for a reason printed loudly: what it needs is missing on this machine.
    Skipped(String),
    Failed(String),
}

/// Where the `(pg)` stages run.
pub enum Postgres {
    /// A server answers at `url` (`addr` is its `host:port`, for messages).
    At { url: String, addr: String },
    /// No server answers, or `PUBLIC_API_TEST_DATABASE_URL` is set empty: the stages skip.
    Absent(String),
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
    Stage { name: "kit", run: Run::Command { program: "cargo", args: &["xtask", "kit"], env: &[] } },
    Stage { name: "metrics", run: Run::Command { program: "cargo", args: &["xtask", "metrics"], env: &[] } },
    Stage {
        name: "bench smoke",
        run: Run::Command { program: "cargo", args: &["xtask", "bench", "--quick"], env: &[] },
    },
    Stage { name: "bench smoke (pg)", run: Run::Check(postgres_bench_smoke) },
];

/// Where the PostgreSQL test matrix runs unless `PUBLIC_API_TEST_DATABASE_URL` says otherwise.
const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The PostgreSQL the `(pg)` stages use: `PUBLIC_API_TEST_DATABASE_URL` (default
/// [`DEFAULT_TEST_DATABASE_URL`]); an error when the variable is not a PostgreSQL URL. The
/// README's test command must work on a machine with only the Rust toolchain, so a missing
/// server skips those stages, loudly, rather than failing them.
pub fn ci_postgres() -> Result<Postgres, String> {
    let url = std::env::var("PUBLIC_API_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned());
    if url.trim().is_empty() {
        return Ok(Postgres::Absent("PUBLIC_API_TEST_DATABASE_URL is set empty".into()));
    }
    let Some(addr) = postgres_address(&url) else {
        return Err(format!("PUBLIC_API_TEST_DATABASE_URL is not a postgres://user@host:port/db URL: {url}"));
    };
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(&addr.as_str())
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(3)).is_ok());
    if !reachable {
        return Ok(Postgres::Absent(format!("no PostgreSQL answers at {addr}")));
    }
    Ok(Postgres::At { url, addr })
}

/// Runs `cargo args` on the PostgreSQL of [`ci_postgres`], the database URL in `url_variable`.
fn on_postgres(root: &Path, what: &str, args: &[&str], url_variable: &str) -> Outcome {
    let (url, addr) = match ci_postgres() {
        Ok(Postgres::At { url, addr }) => (url, addr),
        Ok(Postgres::Absent(why)) => return Outcome::Skipped(format!("{what}: {why}")),
        Err(e) => return Outcome::Failed(e),
    };
    let status = Command::new("cargo")
        .args(args)
        .current_dir(root)
        .env("CI", "true")
        .env_remove("PUBLIC_API_TEST_DATABASE_URL")
        .env(url_variable, &url)
        .env("INSTA_SNAPSHOT_REFERENCES_FILE", root.join(SNAPSHOT_REFERENCES))
        .status();
    match status {
        Ok(s) if s.success() => Outcome::Passed(format!("on {addr}")),
        Ok(_) => Outcome::Failed(format!("{what} failed on PostgreSQL at {addr}")),
        Err(e) => Outcome::Failed(format!("cannot run cargo {}: {e}", args.join(" "))),
    }
}

/// The API tests again, on PostgreSQL: each test in a schema of its own.
fn postgres_tests(root: &Path) -> Outcome {
    on_postgres(root, "the API tests", &["test", "--test", "api"], "PUBLIC_API_TEST_DATABASE_URL")
}

/// The bench's smoke run on PostgreSQL (its stores are schemas made and dropped in the database).
fn postgres_bench_smoke(root: &Path) -> Outcome {
    on_postgres(
        root,
        "the bench smoke run",
        &["xtask", "bench", "--quick", "--store", "postgres"],
        "PUBLIC_API_BENCH_DATABASE_URL",
    )
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
fn unreferenced_snapshots(root: &Path) -> Outcome {
    let references = match std::fs::read_to_string(root.join(SNAPSHOT_REFERENCES)) {
        Ok(text) => text,
        Err(e) => return Outcome::Failed(format!("cannot read {SNAPSHOT_REFERENCES} written by the test stage: {e}")),
    };
    let used: std::collections::BTreeSet<PathBuf> =
        references.lines().filter_map(|line| std::fs::canonicalize(line).ok()).collect();
    let mut files = Vec::new();
    for dir in ["snapshots", "simulator/tests/sim/snapshots"] {
        match std::fs::read_dir(root.join(dir)) {
            Ok(entries) => files.extend(entries.filter_map(Result::ok).map(|e| e.path())),
            Err(e) => return Outcome::Failed(format!("cannot list {dir}: {e}")),
        }
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
    if problems.is_empty() {
        Outcome::Passed(format!("{} snapshots, all used", files.len()))
    } else {
        Outcome::Failed(problems.join("\n"))
    }
}

/// Runs every stage in order, stopping at the first failure.
pub fn run(root: &Path) -> ExitCode {
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
                cmd.args(*args).current_dir(root).env("CI", "true").env_remove("PUBLIC_API_TEST_DATABASE_URL");
                for (key, value) in *env {
                    cmd.env(key, root.join(value));
                }
                let command = format!("{program} {}", args.join(" "));
                let outcome = match cmd.status() {
                    Ok(s) if s.success() => Outcome::Passed(String::new()),
                    Ok(s) => Outcome::Failed(s.to_string()),
                    Err(e) => Outcome::Failed(format!("cannot run `{command}`: {e}")),
                };
                (outcome, command)
            }
            Run::Check(check) => (check(root), "cargo xtask ci".to_owned()),
        };
        let seconds = t.elapsed().as_secs_f64();
        match outcome {
            Outcome::Passed(note) => println!("ci: {:<16} ok      {seconds:>7.1} s {note}", stage.name),
            Outcome::Skipped(why) => {
                eprintln!("\n*** ci: {} is SKIPPED: {why} ***\n", stage.name);
                println!("ci: {:<16} SKIPPED {seconds:>7.1} s {why}", stage.name);
            }
            Outcome::Failed(why) => {
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
