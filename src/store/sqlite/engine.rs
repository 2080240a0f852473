//! The machinery under [`super::SqliteStore`]: one writer thread that commits in groups, a pool
//! of reader connections, and the lock that keeps a second server off the same data directory.
//!
//! Group commit: requests hand their write to the writer thread as a closure. The thread takes
//! every closure that is waiting, runs each inside its own savepoint of one transaction, and
//! commits once, so one disk flush acknowledges many writes. A closure that fails rolls back to
//! its savepoint without disturbing the others. Nobody hears "done" before the commit returned.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use super::migrations;
use crate::store::{PoolStats, StoreError, WriterStats};

/// Prepared statements kept per connection. The store runs a few dozen distinct statements;
/// rusqlite's default of 16 made the busiest ones evict each other and be parsed again.
const STATEMENT_CACHE: usize = 128;

/// The most writes committed together.
const MAX_GROUP: usize = 512;

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write; called with `None` when its transaction could not even begin.
type WriteJob = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;

pub(super) struct Engine {
    writer: Mutex<Option<mpsc::Sender<WriteJob>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    readers: Arc<Readers>,
    counters: Arc<WriterCounters>,
    /// The server lock, released on close.
    lock: Mutex<Option<File>>,
}

/// Reader connections: one per read in progress, kept for reuse. WAL readers never wait for the
/// writer, so a read takes as long as its query.
struct Readers {
    idle: Mutex<Vec<Connection>>,
    /// Connections opened, idle or not.
    open: AtomicU64,
    path: PathBuf,
}

/// What the writer thread has been given and has committed, for [`Engine::pool_stats`].
#[derive(Default)]
struct WriterCounters {
    /// Handed to the thread, committed or not.
    sent: AtomicU64,
    /// Taken into a transaction.
    taken: AtomicU64,
    transactions: AtomicU64,
    writes: AtomicU64,
}

impl Readers {
    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let conn = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match conn {
            Some(conn) => conn,
            None => {
                let conn = open_reader(&self.path)?;
                self.open.fetch_add(1, Ordering::Relaxed);
                conn
            }
        };
        let result = f(&conn);
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        result
    }
}

impl Engine {
    /// Opens (creating if needed) the database at `path`, migrated to the latest schema.
    /// `prepare` runs on the writer's connection once the schema is migrated, before anything
    /// else may read or write.
    pub(super) fn open(
        data_dir: &Path,
        exclusive: bool,
        readers: usize,
        prepare: impl FnOnce(&mut Connection) -> Result<(), StoreError>,
    ) -> Result<Engine, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            context: format!("cannot create data directory {}", data_dir.display()),
            source,
        })?;
        let lock = if exclusive { Some(acquire_lock(data_dir)?) } else { None };
        let path = data_dir.join(super::DB_FILE);
        let mut writer = open_writer(&path)?;
        let prepared =
            migrations::apply(&mut writer).map_err(|e| not_a_database(&path, e)).and_then(|()| prepare(&mut writer));
        if let Err(e) = prepared {
            // Refused: close without the checkpoint that the last connection to close would
            // otherwise make, so the data directory's files stay exactly as they were.
            let _ = writer.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true);
            return Err(e);
        }

        let readers = readers.max(1);
        let mut idle = Vec::with_capacity(readers);
        for _ in 0..readers {
            idle.push(open_reader(&path)?);
        }
        let (tx, rx) = mpsc::channel::<WriteJob>();
        let counters = Arc::new(WriterCounters::default());
        let thread_counters = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(writer, rx, &thread_counters))
            .map_err(|source| StoreError::Io { context: "cannot start the store's writer thread".into(), source })?;
        Ok(Engine {
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(thread)),
            readers: Arc::new(Readers { open: AtomicU64::new(idle.len() as u64), idle: Mutex::new(idle), path }),
            counters,
            lock: Mutex::new(lock),
        })
    }

    /// Runs `f` in the next group transaction; returns once that transaction is durable.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.write_then(f, |_| Ok(())).await
    }

    /// Like [`Engine::write`], and once the transaction has committed, runs `after` with what
    /// `f` returned, on the writer thread, before the caller hears of it. `after` runs even
    /// when the caller has gone away (a client that hung up), which is what keeps the caches
    /// in step with the database. An error from `after` is what the caller gets.
    pub(super) async fn write_then<T, F, A>(&self, f: F, after: A) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        A: FnOnce(&T) -> Result<(), StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, StoreError>>();
        let job: WriteJob = Box::new(move |conn| run_in_savepoint(conn, f, after, tx));
        {
            let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            let sender = writer.as_ref().ok_or(StoreError::Closed)?;
            // Counted before the send, so the writer can never have taken more than was sent.
            self.counters.sent.fetch_add(1, Ordering::Relaxed);
            sender.send(job).map_err(|_| StoreError::Closed)?;
        }
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a reader connection, on the calling task's thread. Reads here are short (a
    /// lookup by key, or a page of at most 100 rows along an index), and a hop to the blocking
    /// pool costs two thread switches, which measured more than the query itself: `GET
    /// /v1/jobs/{id}` served 6,800 requests/s that way on 2 cores. Whole-table reads use
    /// [`Engine::scan`].
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.with(f)
    }

    /// Runs `f` on a reader connection on the blocking pool, for reads of whole tables.
    pub(super) async fn scan<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || readers.with(f))
            .await
            .map_err(|e| StoreError::Internal(format!("store reader failed: {e}")))?
    }

    /// The reader connections and the writer thread's queue, from counters.
    pub(super) fn pool_stats(&self) -> PoolStats {
        let open = self.readers.open.load(Ordering::Relaxed);
        let idle = self.readers.idle.lock().unwrap_or_else(|p| p.into_inner()).len() as u64;
        let c = &self.counters;
        PoolStats {
            busy: open.saturating_sub(idle),
            idle,
            max: None,
            waiting: 0,
            writer: Some(WriterStats {
                queued: c.sent.load(Ordering::Relaxed).saturating_sub(c.taken.load(Ordering::Relaxed)),
                transactions: c.transactions.load(Ordering::Relaxed),
                writes: c.writes.load(Ordering::Relaxed),
            }),
        }
    }

    /// Stops the writer after the writes already queued, waits for it, and releases the
    /// server lock, even while other parts of the process still hold the store.
    pub(super) fn close(&self) {
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = self.writer_thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
        self.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.close();
    }
}

fn run_in_savepoint<T, F, A>(
    conn: Option<&Connection>,
    f: F,
    after: A,
    reply: oneshot::Sender<Result<T, StoreError>>,
) -> Completion
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError>,
    A: FnOnce(&T) -> Result<(), StoreError> + Send + 'static,
{
    let Some(conn) = conn else {
        return Box::new(move |failed: Result<(), String>| {
            let message = failed.err().unwrap_or_else(|| "the write transaction did not begin".into());
            let _ = reply.send(Err(StoreError::Unavailable(message)));
        });
    };
    if let Err(e) = conn.prepare_cached("SAVEPOINT write_job").and_then(|mut s| s.execute([])) {
        let e = StoreError::from(e);
        return Box::new(move |_| {
            let _ = reply.send(Err(e));
        });
    }
    // A panic inside one write must not take the writer thread (and every later write) down.
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| f(conn)))
        .unwrap_or_else(|_| Err(StoreError::Internal("a store write panicked".into())));
    match outcome {
        Ok(value) => match conn.prepare_cached("RELEASE write_job").and_then(|mut s| s.execute([]).map(drop)) {
            Ok(()) => Box::new(move |committed: Result<(), String>| {
                let outcome = match committed {
                    Ok(()) => std::panic::catch_unwind(AssertUnwindSafe(|| after(&value)))
                        .unwrap_or_else(|_| Err(StoreError::Internal("a store write's follow-up panicked".into())))
                        .map(|()| value),
                    // BEGIN and COMMIT fail on the file, not on the request: locked, full, read-only.
                    Err(e) => Err(StoreError::Unavailable(e)),
                };
                let _ = reply.send(outcome);
            }),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK TO write_job; RELEASE write_job");
                let e = StoreError::from(e);
                Box::new(move |_| {
                    let _ = reply.send(Err(e));
                })
            }
        },
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO write_job; RELEASE write_job");
            Box::new(move |_| {
                let _ = reply.send(Err(e));
            })
        }
    }
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<WriteJob>, counters: &WriterCounters) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        counters.taken.fetch_add(group.len() as u64, Ordering::Relaxed);
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let message = e.to_string();
            tracing::error!(error = %message, "store: cannot begin a write transaction");
            for job in group {
                job(None)(Err(message.clone()));
            }
            continue;
        }
        let completions: Vec<Completion> = group.into_iter().map(|job| job(Some(&conn))).collect();
        let committed = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        match &committed {
            Ok(()) => {
                counters.transactions.fetch_add(1, Ordering::Relaxed);
                counters.writes.fetch_add(completions.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!(error = %e, "store: commit failed; the group is rolled back");
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
        for complete in completions {
            complete(committed.clone());
        }
    }
}

fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| open_error(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Read the version before anything writes to the file: a database from a newer build, or a
    // file that is not a database at all, must be left exactly as it is.
    migrations::check_not_newer(&conn).map_err(|e| not_a_database(path, e))?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| open_error(path, e))?;
    // FULL makes every commit flush the WAL to disk: an acknowledged write survives power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Deleted and overwritten content is zeroed where that costs no extra I/O, so a secret
    // replaced by its sealed form does not linger in the page's free space.
    conn.pragma_update(None, "secure_delete", "FAST")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| open_error(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => StoreError::NotADatabase {
            path: path.display().to_string(),
            reason: "the file is not a SQLite database".into(),
        },
        Some(
            rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::PermissionDenied,
        ) => StoreError::Database(format!(
            "cannot open {} for writing ({e}); check that the data directory exists and is writable",
            path.display()
        )),
        _ => StoreError::Database(format!("cannot open {}: {e}", path.display())),
    }
}

fn not_a_database(path: &Path, e: StoreError) -> StoreError {
    match e {
        StoreError::Database(message) if message.contains("file is not a database") => StoreError::NotADatabase {
            path: path.display().to_string(),
            reason: "the file is not a SQLite database".into(),
        },
        other => other,
    }
}

/// Takes the data directory's server lock, or says who holds it.
fn acquire_lock(data_dir: &Path) -> Result<File, StoreError> {
    let path = data_dir.join(super::LOCK_FILE);
    let io = |source| StoreError::Io { context: format!("cannot open lock file {}", path.display()), source };
    let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(io)?;
            file.rewind().map_err(io)?;
            writeln!(file, "{}", std::process::id()).map_err(io)?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "pid unknown".to_owned(),
                pid => format!("pid {pid}"),
            };
            Err(StoreError::Locked { path: data_dir.display().to_string(), holder })
        }
        Err(std::fs::TryLockError::Error(source)) => Err(io(source)),
    }
}
