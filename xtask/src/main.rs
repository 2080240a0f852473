//! `cargo xtask`: project chores in Rust, so they run wherever cargo does.
//!
//! - `cargo xtask spec [--check]`: write (or compare) the generated files under `spec/`.
//! - `cargo xtask ci`: everything CI runs, stage by stage, stopping at the first failure.

mod breaking;

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
        ["breaking"] => breaking_gate("HEAD~1"),
        ["breaking", "--base", base] => breaking_gate(base),
        _ => {
            eprintln!(
                "usage: cargo xtask spec [--check] | cargo xtask validate-spec | cargo xtask breaking [--base REF] | cargo xtask ci"
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

/// Validates `spec/openapi.json` with `openapi-spec-validator` (PyPI), installed at the version
/// pinned in `tools/requirements.txt` into a virtual environment under `target/tools/`.
fn validate_spec() -> ExitCode {
    let root = project_root();
    let venv = root.join("target/tools/venv");
    let bin = venv.join("bin");
    let requirements = root.join("tools/requirements.txt");
    let stamp = venv.join("requirements.installed");
    let wanted = std::fs::read_to_string(&requirements).unwrap_or_default();
    let has_python = Command::new("python3").args(["-c", "import venv"]).output().is_ok_and(|o| o.status.success());
    if !has_python {
        // CI must run every check; a developer machine with only the Rust toolchain may skip this one.
        if std::env::var_os("CI").is_some_and(|v| v != "false" && v != "0" && !v.is_empty()) {
            eprintln!("error: python3 with the venv module is needed to validate spec/openapi.json");
            return ExitCode::FAILURE;
        }
        eprintln!("warning: python3 with venv not found; skipping openapi-spec-validator (CI runs it)");
        return ExitCode::SUCCESS;
    }
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let steps: [(&str, Vec<String>); 2] = [
            ("python3", vec!["-m".into(), "venv".into(), venv.display().to_string()]),
            (
                "pip",
                vec!["install".into(), "--quiet".into(), "--requirement".into(), requirements.display().to_string()],
            ),
        ];
        for (program, args) in steps {
            let program = if program == "pip" { bin.join("pip").display().to_string() } else { program.to_owned() };
            match Command::new(&program).args(&args).status() {
                Ok(s) if s.success() => {}
                other => {
                    eprintln!(
                        "error: `{program} {}` failed ({other:?}); Python 3 with venv and pip is needed",
                        args.join(" ")
                    );
                    return ExitCode::FAILURE;
                }
            }
        }
        let _ = std::fs::write(&stamp, wanted);
    }
    match Command::new(bin.join("openapi-spec-validator")).arg(root.join("spec/openapi.json")).status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        _ => {
            eprintln!("spec/openapi.json is not a valid OpenAPI document (see above)");
            ExitCode::FAILURE
        }
    }
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

/// One CI stage: a name and the command that runs it.
struct Stage {
    name: &'static str,
    program: &'static str,
    args: &'static [&'static str],
}

const STAGES: &[Stage] = &[
    Stage { name: "format", program: "cargo", args: &["fmt", "--all", "--check"] },
    Stage {
        name: "clippy",
        program: "cargo",
        args: &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
    },
    Stage { name: "tests", program: "cargo", args: &["test", "--workspace"] },
    Stage { name: "spec drift", program: "cargo", args: &["xtask", "spec", "--check"] },
    Stage { name: "breaking", program: "cargo", args: &["xtask", "breaking"] },
    Stage { name: "spec lint", program: "cargo", args: &["xtask", "validate-spec"] },
];

fn ci() -> ExitCode {
    let root = project_root();
    let started = Instant::now();
    for stage in STAGES {
        let t = Instant::now();
        let status = Command::new(stage.program).args(stage.args).current_dir(&root).env("CI", "true").status();
        let seconds = t.elapsed().as_secs_f64();
        let command = format!("{} {}", stage.program, stage.args.join(" "));
        match status {
            Ok(s) if s.success() => println!("ci: {:<12} ok      {seconds:>7.1} s", stage.name),
            Ok(s) => {
                println!("ci: {:<12} FAILED  {seconds:>7.1} s ({s})", stage.name);
                println!("ci: reproduce with: CI=true {command}");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                println!("ci: {:<12} FAILED  cannot run `{command}`: {e}", stage.name);
                return ExitCode::FAILURE;
            }
        }
    }
    println!("ci: all stages passed in {:.1} s", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
