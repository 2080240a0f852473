//! The store a bench run measures: a fresh SQLite data directory, or a fresh schema in a
//! PostgreSQL database. The server gets it as command-line arguments; a schema is dropped when
//! its [`BenchStore`] is, so an interrupted run leaves nothing behind.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use public_api::store::{postgres, sealing};

/// Which store the bench measures (`--store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// The embedded default: a SQLite file in a data directory.
    Sqlite,
    /// PostgreSQL at `--database-url`, in a schema made for the run.
    Postgres,
}

/// One store of a run.
pub struct BenchStore {
    args: Vec<OsString>,
    /// `(database URL, schema)` to drop at the end, on PostgreSQL.
    schema: Option<(String, String)>,
}

impl BenchStore {
    /// A new, empty store called `name`: the directory `scratch/name`, or the schema
    /// `bench_<pid>_<name>` in the database at `database_url`.
    pub async fn create(backend: Backend, database_url: &str, scratch: &Path, name: &str) -> Result<Self, String> {
        match backend {
            Backend::Sqlite => {
                let dir = scratch.join(name);
                std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                Ok(BenchStore { args: vec!["--data-dir".into(), dir.into_os_string()], schema: None })
            }
            Backend::Postgres => {
                let schema = format!("bench_{}_{name}", std::process::id());
                postgres::create_schema(database_url, &schema).await.map_err(|e| e.to_string())?;
                let url = postgres::url_with_schema(database_url, &schema);
                // A shared database needs its encryption key given, the same to every replica.
                let key_file = scratch.join(format!("{name}-encryption.key"));
                if !key_file.exists() {
                    sealing::write_key_file(&key_file).map_err(|e| e.to_string())?;
                }
                Ok(BenchStore {
                    args: vec![
                        "--database-url".into(),
                        url.into(),
                        "--encryption-key-file".into(),
                        key_file.into_os_string(),
                    ],
                    schema: Some((database_url.to_owned(), schema)),
                })
            }
        }
    }

    /// The server's arguments that select this store.
    pub fn args(&self) -> &[OsString] {
        &self.args
    }
}

impl Drop for BenchStore {
    fn drop(&mut self) {
        let Some((url, schema)) = self.schema.take() else { return };
        if let Err(e) = postgres::drop_schema_blocking(url, schema) {
            eprintln!("bench: could not drop the bench schema: {e}");
        }
    }
}

/// Where the bench measures the disk's flush rate, and a note on how that disk relates to the
/// store's: SQLite commits to the data directory itself; PostgreSQL to its own data directory,
/// which the bench can only compare by device when the server runs on this machine.
pub async fn flush_dir(backend: Backend, database_url: &str, scratch: &Path) -> (PathBuf, String) {
    match backend {
        Backend::Sqlite => (scratch.to_path_buf(), "a file in the data dir's parent".into()),
        Backend::Postgres => {
            let note = match postgres_data_directory(database_url).await {
                Ok(dir) => match (device_of(Path::new(&dir)), device_of(scratch)) {
                    (Some(a), Some(b)) if a == b => format!("a file on the device of PostgreSQL's {dir}"),
                    (Some(_), Some(_)) => format!("a file in the scratch dir: not the device of PostgreSQL's {dir}"),
                    _ => format!("a file in the scratch dir: PostgreSQL's {dir} is not visible from here"),
                },
                Err(e) => format!("a file in the scratch dir: cannot ask PostgreSQL where it writes ({e})"),
            };
            (scratch.to_path_buf(), note)
        }
    }
}

fn device_of(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.dev())
}

async fn postgres_data_directory(url: &str) -> Result<String, String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
    let connection = tokio::spawn(connection);
    let row = client.query_one("SHOW data_directory", &[]).await.map_err(|e| e.to_string());
    drop(client);
    let _ = connection.await;
    row.and_then(|r| r.try_get::<_, String>(0).map_err(|e| e.to_string()))
}
