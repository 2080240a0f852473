//! `public-api backup`: a consistent copy of the embedded store, taken with SQLite's online
//! backup API while a server may be serving. The copy is made in one step, inside one read
//! transaction, so it is the database as of one commit; in WAL mode that reader never blocks
//! the server's writer. The copy is written beside its destination and renamed into place only
//! once it is complete, flushed and checked, so a crash never leaves half a backup under the
//! name asked for.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{DB_FILE, migrations};
use crate::store::StoreError;

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub source: PathBuf,
    pub path: PathBuf,
    pub bytes: u64,
    pub schema_version: i64,
    /// Every table and its row count, by name.
    pub tables: Vec<(String, i64)>,
}

/// Copies the store in `data_dir` to `to`, which must not exist yet.
pub fn backup(data_dir: &Path, to: &Path) -> Result<BackupReport, StoreError> {
    let source_path = data_dir.join(DB_FILE);
    if !source_path.is_file() {
        return Err(StoreError::Internal(format!("there is no store at {}", source_path.display())));
    }
    if to.exists() {
        return Err(StoreError::Internal(format!("{} exists; back up to a new file", to.display())));
    }
    let io = |context: String| move |source| StoreError::Io { context, source };
    let partial = partial_path(to);
    let _ = std::fs::remove_file(&partial);
    let source = Connection::open_with_flags(&source_path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    source.busy_timeout(Duration::from_secs(10))?;
    let result = copy(&source, &partial).and_then(|()| check(&partial));
    let (schema_version, tables) = match result {
        Ok(found) => found,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(io(format!("cannot flush {}", partial.display())))?;
    std::fs::rename(&partial, to).map_err(io(format!("cannot rename {} to {}", partial.display(), to.display())))?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename is durable only once the directory is flushed too.
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(format!("cannot flush {}", dir.display())))?;
    }
    let bytes = std::fs::metadata(to).map_err(io(format!("cannot read {}", to.display())))?.len();
    Ok(BackupReport { source: source_path, path: to.to_path_buf(), bytes, schema_version, tables })
}

fn partial_path(to: &Path) -> PathBuf {
    let mut name = to.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    to.with_file_name(name)
}

/// Every page in one step: one read transaction, so one consistent snapshot. A step can only
/// be refused while another connection holds an exclusive lock (a checkpoint truncating the
/// WAL), which lasts milliseconds; then it is tried again.
fn copy(source: &Connection, to: &Path) -> Result<(), StoreError> {
    let mut destination = Connection::open(to)?;
    {
        let backup = Backup::new(source, &mut destination)?;
        let mut refused = 0;
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked => {
                    refused += 1;
                    if refused > 200 {
                        return Err(StoreError::Unavailable("the store stayed locked for 10 s".into()));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {}
            }
        }
    }
    // One self-contained file: no WAL beside it to lose when the backup is copied elsewhere.
    destination.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(())
}

/// The copy is a sound database: `integrity_check` passes, and every table can be counted.
fn check(path: &Path) -> Result<(i64, Vec<(String, i64)>), StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    if verdict != "ok" {
        return Err(StoreError::Internal(format!("the copy failed its integrity check: {verdict}")));
    }
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let count: i64 =
            conn.query_row(&format!("SELECT count(*) FROM \"{}\"", name.replace('"', "\"\"")), [], |row| row.get(0))?;
        tables.push((name, count));
    }
    Ok((migrations::current_version(&conn)?, tables))
}
