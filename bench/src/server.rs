//! The server under test, as its own process: started from its binary on a free loopback port,
//! its address and key read from the start-up banner, stopped with SIGTERM.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    pub base: String,
    /// The key printed on the first start of a store.
    pub key: Option<String>,
}

impl ServerProcess {
    /// Starts `bin serve` on the store that `store_args` select, with `args`, and waits until it
    /// listens. The bench's own `PUBLIC_API_*` variables are not passed on: only the arguments
    /// decide what is measured.
    pub fn start(bin: &Path, store_args: &[OsString], args: &[&str]) -> Result<ServerProcess, String> {
        let mut command = Command::new(bin);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PUBLIC_API_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .args(store_args)
            .args(["serve", "--addr", "127.0.0.1:0", "--rate-limit", "0"])
            .args(args)
            .env("PUBLIC_API_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut key = None;
        loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                return Err("the server exited before it listened".into());
            };
            if let Some(k) = line.split_whitespace().find(|w| w.starts_with("tenzo_pk_")) {
                key = Some(k.to_owned());
            }
            if let Some(rest) = line.strip_prefix("Listening on ") {
                let base = rest.split_whitespace().next().unwrap_or_default().to_owned();
                let addr = base.trim_start_matches("http://").parse().map_err(|e| format!("address {base}: {e}"))?;
                // Keep draining standard output so the server never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines {});
                return Ok(ServerProcess { child, addr, base, key });
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now and at its peak, in MiB, from `/proc`.
    pub fn memory_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
                .map_or(f64::NAN, |kib| kib / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// SIGTERM, then wait for the process to finish its shutdown.
    pub fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
