//! External tools pinned in `tools/` and installed into `target/tools/` on first use: Python
//! packages from `tools/requirements.txt` (and `tools/clients-requirements.txt`,
//! `tools/kit-requirements.txt`) into virtual environments, Node.js packages from
//! `tools/package.json` and its lock file with `npm ci`. A stamp file holds the pins that were
//! installed, so an edit of the pins reinstalls and nothing else does.
//!
//! CI must run every check. On a developer machine with only the Rust toolchain, a check whose
//! runtime (python3 or npm) is missing is skipped with a warning.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Installs a set of tools and returns their `bin` directory, or `None` when the check is skipped.
pub type Installer = fn(&Path) -> Result<Option<PathBuf>, String>;

/// Whether this is a CI run (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| v != "false" && v != "0" && !v.is_empty())
}

/// The `bin` directory of the Python tools, or `None` when the check should be skipped.
pub fn python(root: &Path) -> Result<Option<PathBuf>, String> {
    python_env(root, "venv", "requirements.txt")
}

/// The `bin` directory of the Python client generator (`tools/clients-requirements.txt`, a
/// virtual environment of its own: its pins need not agree with Schemathesis').
pub fn python_clients(root: &Path) -> Result<Option<PathBuf>, String> {
    python_env(root, "clients-venv", "clients-requirements.txt")
}

/// The `bin` directory of the conformance-pack runner's tests (`tools/kit-requirements.txt`:
/// pytest, freezegun and the `standardwebhooks` package).
pub fn python_kit(root: &Path) -> Result<Option<PathBuf>, String> {
    python_env(root, "kit-venv", "kit-requirements.txt")
}

fn python_env(root: &Path, name: &str, requirements: &str) -> Result<Option<PathBuf>, String> {
    let venv = root.join("target/tools").join(name);
    let requirements = root.join("tools").join(requirements);
    if !runs("python3", &["-c", "import venv"]) {
        return missing("python3 with the venv module");
    }
    let wanted = read(&requirements)?;
    let pip = venv.join("bin/pip").display().to_string();
    install(
        &venv.join("requirements.installed"),
        &wanted,
        &[
            ("python3".into(), vec!["-m".into(), "venv".into(), venv.display().to_string()], None),
            (
                pip,
                vec!["install".into(), "--quiet".into(), "--requirement".into(), requirements.display().to_string()],
                None,
            ),
        ],
    )?;
    Ok(Some(venv.join("bin")))
}

/// The `node_modules/.bin` directory of the Node.js tools, or `None` when the check should be skipped.
pub fn node(root: &Path) -> Result<Option<PathBuf>, String> {
    let dir = root.join("target/tools/node");
    if !runs("npm", &["--version"]) {
        return missing("npm (Node.js)");
    }
    let lock = read(&root.join("tools/package-lock.json"))?;
    let manifest = read(&root.join("tools/package.json"))?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (name, text) in [("package.json", &manifest), ("package-lock.json", &lock)] {
        std::fs::write(dir.join(name), text).map_err(|e| format!("cannot write {}: {e}", dir.join(name).display()))?;
    }
    install(
        &dir.join("lock.installed"),
        &format!("{manifest}{lock}"),
        &[("npm".into(), vec!["ci".into(), "--no-audit".into(), "--no-fund".into()], Some(dir.clone()))],
    )?;
    Ok(Some(dir.join("node_modules/.bin")))
}

fn missing(what: &str) -> Result<Option<PathBuf>, String> {
    if in_ci() {
        return Err(format!("{what} is needed for this check in CI"));
    }
    eprintln!("warning: {what} not found; skipping this check (CI runs it)");
    Ok(None)
}

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).output().is_ok_and(|o| o.status.success())
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

type Step = (String, Vec<String>, Option<PathBuf>);

/// Runs `steps` unless `stamp` already holds `wanted`; then writes it.
fn install(stamp: &Path, wanted: &str, steps: &[Step]) -> Result<(), String> {
    if std::fs::read_to_string(stamp).ok().as_deref() == Some(wanted) {
        return Ok(());
    }
    for (program, args, dir) in steps {
        let mut cmd = Command::new(program);
        cmd.args(args);
        if let Some(dir) = dir {
            cmd.current_dir(dir);
        }
        match cmd.status() {
            Ok(s) if s.success() => {}
            other => return Err(format!("`{program} {}` failed ({other:?})", args.join(" "))),
        }
    }
    std::fs::write(stamp, wanted).map_err(|e| format!("cannot write {}: {e}", stamp.display()))
}

/// Runs a step of a stage; its failure names `what`.
pub fn step(cmd: &mut Command, what: &str) -> Result<(), String> {
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{what} failed ({s})")),
        Err(e) => Err(format!("cannot run {what}: {e}")),
    }
}

/// Creates `dir` (and its parents) and returns it.
pub fn create(dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir.to_path_buf())
}

pub fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to).map(drop).map_err(|e| format!("cannot copy {}: {e}", from.display()))
}

pub fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Makes the pinned Node.js packages (`bin` is their `node_modules/.bin`) importable from `dir`.
pub fn link_node_modules(bin: &Path, dir: &Path) -> Result<(), String> {
    let modules = bin.parent().map(Path::to_path_buf).unwrap_or_default();
    std::os::unix::fs::symlink(&modules, dir.join("node_modules"))
        .map_err(|e| format!("cannot link {}: {e}", modules.display()))
}
