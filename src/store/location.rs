//! Where a store lives, and opening the backend that keeps it there.

use std::path::PathBuf;
use std::sync::Arc;

use super::sealing::{DATA_DIR_KEY_FILE, Keyring, SealingKey};
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

/// Opens (and creates or migrates) the store at `location`, with the keys that seal its
/// webhook signing secrets (see [`keyring_for`]).
pub async fn open(location: &Location, access: Access, keys: Vec<SealingKey>) -> Result<Arc<dyn Store>, StoreError> {
    let keyring = keyring_for(location, access, keys)?;
    Ok(match location {
        Location::DataDir(dir) => Arc::new(sqlite::SqliteStore::open(dir, access, keyring)?),
        Location::Postgres(url) => {
            let require_key = matches!(access, Access::Server);
            Arc::new(postgres::PostgresStore::connect(url, keyring, require_key).await?)
        }
    })
}

/// The keys a store is opened with: the ones given; else, in a data directory, its key file,
/// which the server creates on first start; else none, which only the admin commands accept
/// (they never read secrets). Several replicas share a database, so a server on PostgreSQL
/// must be given its key ([`postgres::PostgresStore::connect`] refuses to start without one).
pub fn keyring_for(location: &Location, access: Access, keys: Vec<SealingKey>) -> Result<Keyring, StoreError> {
    if !keys.is_empty() {
        return Ok(Keyring::new(keys));
    }
    match (location, access) {
        (Location::DataDir(dir), _) if dir.join(DATA_DIR_KEY_FILE).exists() => {
            Ok(Keyring::new(vec![SealingKey::read_file(&dir.join(DATA_DIR_KEY_FILE))?]))
        }
        (Location::DataDir(dir), Access::Server) => Ok(Keyring::generated_for(dir.join(DATA_DIR_KEY_FILE))?),
        _ => Ok(Keyring::default()),
    }
}
