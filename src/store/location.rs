//! Where a store lives, and opening the backend that keeps it there.

use std::path::PathBuf;
use std::sync::Arc;

use super::sqlite::{self, Access};
use super::{Store, StoreError, postgres};

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The embedded SQLite database in this data directory.
    DataDir(PathBuf),
    /// A PostgreSQL database (`postgres://…`), which several servers may share.
    Postgres(String),
}

impl Location {
    /// The database URL if one is given, else the data directory.
    pub fn new(data_dir: PathBuf, database_url: Option<String>) -> Location {
        match database_url {
            Some(url) if !url.trim().is_empty() => Location::Postgres(url),
            _ => Location::DataDir(data_dir),
        }
    }

    /// For messages: the data directory, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Location::DataDir(dir) => format!("data in {}", dir.display()),
            Location::Postgres(url) => format!("data in PostgreSQL at {}", postgres::redact_url(url)),
        }
    }
}

/// Opens (and creates or migrates) the store at `location`.
pub async fn open(location: &Location, access: Access) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match location {
        Location::DataDir(dir) => Arc::new(sqlite::SqliteStore::open(dir, access)?),
        Location::Postgres(url) => Arc::new(postgres::PostgresStore::connect(url).await?),
    })
}
