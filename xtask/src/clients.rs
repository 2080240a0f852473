//! `cargo xtask clients`: clients generated from `spec/openapi.json` by mainstream generators,
//! driven through the README's loop against a live server (the scripts under `clients/`).
//!
//! - TypeScript: openapi-typescript types and openapi-fetch, compiled with `tsc --strict`
//!   (`clients/typescript/tsconfig.json`), run with node.
//! - Python: openapi-python-client, which must generate every schema without a warning; every
//!   2xx the script meets must parse into its model.
//!
//! Generated code goes under `target/clients/`, never into the repository. Each client runs
//! against a server of its own, sandboxed, with 127.0.0.1 allowed for the script's receiver and
//! interviews left for the sandbox endpoint to finish.

use std::path::Path;
use std::process::Command;

use crate::live;
use crate::tools::{self, copy, create, step, write};

/// Flags of the server each client runs against.
const SERVER_FLAGS: &[&str] = &["--webhook-allow-cidr", "127.0.0.1/32", "--interview-delay", "3600"];

pub fn run(root: &Path) -> Result<String, String> {
    live::build_server(root)?;
    let work = root.join("target/clients");
    let _ = std::fs::remove_dir_all(&work);
    let mut done = Vec::new();
    match tools::node(root)? {
        Some(bin) => done.push(typescript(root, &bin, &work.join("typescript"))?),
        None => done.push("TypeScript skipped".to_owned()),
    }
    match tools::python_clients(root)? {
        Some(bin) => done.push(python(root, &bin, &work.join("python"))?),
        None => done.push("Python skipped".to_owned()),
    }
    Ok(done.join("; "))
}

fn typescript(root: &Path, bin: &Path, dir: &Path) -> Result<String, String> {
    create(dir)?;
    let spec = root.join("spec/openapi.json");
    step(
        Command::new(bin.join("openapi-typescript")).arg(&spec).arg("-o").arg(dir.join("schema.d.ts")),
        "openapi-typescript",
    )?;
    for file in ["roundtrip.ts", "tsconfig.json"] {
        copy(&root.join("clients/typescript").join(file), &dir.join(file))?;
    }
    write(&dir.join("package.json"), "{\"type\": \"module\", \"private\": true}\n")?;
    // The compiler and node resolve openapi-fetch and @types/node from the pinned tools.
    tools::link_node_modules(bin, dir)?;
    step(Command::new(bin.join("tsc")).args(["-p", "."]).current_dir(dir), "tsc --strict")?;
    against_server(root, dir, "typescript", Command::new("node").arg("roundtrip.js").current_dir(dir))?;
    Ok("TypeScript (openapi-typescript + openapi-fetch) ok".into())
}

fn python(root: &Path, bin: &Path, dir: &Path) -> Result<String, String> {
    create(dir)?;
    let package = dir.join("public_api_client");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let output = Command::new(bin.join("openapi-python-client"))
        .args(["generate", "--meta", "none", "--path"])
        .arg(root.join("spec/openapi.json"))
        .arg("--output-path")
        .arg(&package)
        .env("PATH", path)
        .output()
        .map_err(|e| format!("cannot run openapi-python-client: {e}"))?;
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    print!("{said}");
    if !output.status.success() {
        return Err("openapi-python-client failed (see above)".into());
    }
    // A schema the generator cannot read is left out with a warning, and the client is still
    // written: a warning is a failure here, since a customer would silently lose that type.
    if ["Warning", "Skipping", "Failure", "removal"].iter().any(|w| said.contains(w)) {
        return Err("openapi-python-client left something out of the client (see above)".into());
    }
    copy(&root.join("clients/python/roundtrip.py"), &dir.join("roundtrip.py"))?;
    against_server(
        root,
        dir,
        "python",
        Command::new(bin.join("python")).arg("roundtrip.py").current_dir(dir).env("PYTHONPATH", dir),
    )?;
    Ok("Python (openapi-python-client) ok".into())
}

/// Runs `script` with `PUBLIC_API_URL` and `PUBLIC_API_KEY` of a fresh server.
fn against_server(root: &Path, dir: &Path, name: &str, script: &mut Command) -> Result<(), String> {
    let (server, url, key) = live::start_server(root, &dir.join("data"), SERVER_FLAGS)?;
    let result = step(script.env("PUBLIC_API_URL", url).env("PUBLIC_API_KEY", key), &format!("the {name} round trip"));
    drop(server);
    result
}
