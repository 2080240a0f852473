//! A running server: store opened, first-start bootstrap, optional seed, HTTP served until
//! shutdown, then buffered key usage flushed and the store closed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{self, ApiConfig, AppState};
use crate::clock::Clock;
use crate::domain::Organization;
use crate::domain::Scope;
use crate::domain::audit::AuditContext;
use crate::domain::ids::IdKind;
use crate::interview::{InterviewConfig, InterviewEngine};
use crate::keys::{self, IssuedKey};
use crate::seed::{self, SeedError, SeedReport};
use crate::store::sealing::SealingKey;
use crate::store::sqlite::Access;
use crate::store::{self, Location, Store, StoreError};
use crate::webhooks::dispatcher::{DeliveryConfig, Dispatcher};

/// Everything `serve` needs to know.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    /// The data directory, or a PostgreSQL database shared with other replicas.
    pub store: Location,
    pub seed: Option<PathBuf>,
    /// The organisation a seed goes into; the first organisation when `None`.
    pub seed_org: Option<String>,
    pub api: ApiConfig,
    /// How interviews are simulated. An empty `public_url` means the listening address.
    pub interview: InterviewConfig,
    /// How webhooks are delivered.
    pub delivery: DeliveryConfig,
    /// How often buffered API key usage is written to the store.
    pub usage_flush_interval: Duration,
    /// The keys that seal webhook signing secrets; none means a data directory's own key file
    /// (see [`store::keyring_for`]).
    pub encryption_keys: Vec<SealingKey>,
}

impl ServeConfig {
    pub fn new(addr: SocketAddr, store: Location) -> Self {
        ServeConfig {
            addr,
            store,
            seed: None,
            seed_org: None,
            api: ApiConfig::default(),
            interview: InterviewConfig { public_url: String::new(), ..InterviewConfig::default() },
            delivery: DeliveryConfig::default(),
            usage_flush_interval: Duration::from_secs(2),
            encryption_keys: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Seed(#[from] SeedError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("no organisation {0} to seed into")]
    NoSuchOrganization(String),
    #[error("the server stopped unexpectedly: {0}")]
    Crashed(String),
}

/// The organisation and key made on the first start of an empty store.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub organization: Organization,
    pub key: IssuedKey,
}

/// A server that is accepting connections.
pub struct Server {
    local_addr: SocketAddr,
    bootstrap: Option<Bootstrap>,
    seeded: Option<SeedReport>,
    state: AppState,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl Server {
    /// Opens the store, bootstraps and seeds it, and starts serving on `config.addr`.
    pub async fn start(config: ServeConfig, clock: Arc<dyn Clock>) -> Result<Server, ServeError> {
        let store = store::open(&config.store, Access::Server, config.encryption_keys.clone()).await?;
        let bootstrap = bootstrap_if_empty(store.as_ref(), clock.as_ref()).await?;
        // A process that holds the data directory's lock knows that leases left by an earlier
        // process are stale: it frees them so its interviews and deliveries resume at once. On a
        // shared database they may be another replica's, and are left to expire.
        if store.is_exclusive() {
            store.release_leases(None, clock.now()).await?;
        }
        let seeded = match &config.seed {
            Some(path) => {
                let org_id = match &config.seed_org {
                    Some(id) => {
                        store.get_organization(id).await?.ok_or_else(|| ServeError::NoSuchOrganization(id.clone()))?.id
                    }
                    None => first_organization(store.as_ref()).await?.id,
                };
                Some(seed::apply(Arc::clone(&store), Arc::clone(&clock), config.interview.delay, &org_id, path).await?)
            }
            None => None,
        };
        let listener =
            TcpListener::bind(config.addr).await.map_err(|source| ServeError::Bind { addr: config.addr, source })?;
        let local_addr = listener.local_addr().map_err(|source| ServeError::Bind { addr: config.addr, source })?;

        let mut interview = config.interview.clone();
        if interview.public_url.is_empty() {
            interview.public_url = format!("http://{local_addr}");
        }
        let events = Arc::new(tokio::sync::Notify::new());
        let engine = InterviewEngine::new(Arc::clone(&store), Arc::clone(&clock), interview, Arc::clone(&events));
        let dispatcher = Dispatcher::new(Arc::clone(&store), Arc::clone(&clock), config.delivery.clone(), events)
            .map_err(|e| ServeError::Crashed(e.to_string()))?;
        let state = AppState::new(store, clock, Arc::clone(&engine), Arc::clone(&dispatcher), config.api.clone());
        let app = api::router(state.clone());
        let (stop, stopped) = watch::channel(false);
        let engine_task = config.interview.background.then(|| tokio::spawn(engine.run(stop.subscribe())));
        let dispatcher_task = config.delivery.background.then(|| tokio::spawn(dispatcher.run(stop.subscribe())));
        let flusher =
            tokio::spawn(flush_usage_periodically(state.clone(), config.usage_flush_interval, stop.subscribe()));
        let task_state = state.clone();
        let (header_read_timeout, grace) = (config.api.header_read_timeout, config.api.shutdown_grace);
        let leases_state = state.clone();
        let background = async move {
            // Stop claiming; the engine finishes the batch it runs, the dispatcher the attempts
            // in flight (for at most the grace), and what they hold but have not started is
            // released so that another replica takes it at once instead of after the lease.
            for task in [engine_task, dispatcher_task].into_iter().flatten() {
                let _ = task.await;
            }
            let state = leases_state;
            if !state.dispatcher.drain(grace).await {
                tracing::warn!("webhook attempts still in flight after {grace:?}; another server sends them again");
            }
            let owners = vec![state.engine.owner().to_owned(), state.dispatcher.owner().to_owned()];
            match state.store.release_leases(Some(owners), state.clock.now()).await {
                Ok(0) => {}
                Ok(released) => tracing::info!(released, "released leases for other servers"),
                Err(e) => tracing::warn!(error = %e, "could not release leases; they expire instead"),
            }
        };
        let task = tokio::spawn(async move {
            let serving = crate::listen::serve(listener, app, header_read_timeout, grace, stopped.clone());
            let background = async move {
                let mut stopped = stopped;
                let _ = stopped.wait_for(|s| *s).await;
                background.await;
            };
            tokio::join!(serving, background);
            let _ = flusher.await;
            flush_usage(&task_state).await;
            task_state.store.close();
            Ok(())
        });
        Ok(Server { local_addr, bootstrap, seeded, state, stop, task })
    }

    /// Where the server listens (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The organisation and key made on this start, if the data directory was empty.
    pub fn bootstrap(&self) -> Option<&Bootstrap> {
        self.bootstrap.as_ref()
    }

    pub fn seeded(&self) -> Option<&SeedReport> {
        self.seeded.as_ref()
    }

    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.state.store)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting connections, lets requests in flight finish, flushes and closes.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        let _ = self.stop.send(true);
        self.task.await.map_err(|e| ServeError::Crashed(e.to_string()))?
    }

    /// Serves until `signal` resolves, then shuts down.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) -> Result<(), ServeError> {
        signal.await;
        self.shutdown().await
    }
}

/// On an empty store: a default organisation and one key, so a new user can call the API.
async fn bootstrap_if_empty(store: &dyn Store, clock: &dyn Clock) -> Result<Option<Bootstrap>, StoreError> {
    if !store.list_organizations().await?.is_empty() {
        return Ok(None);
    }
    let now = clock.now();
    let Some(organization) =
        store.create_first_organization(IdKind::Organization.new_id(), "Default organisation".into(), now).await?
    else {
        return Ok(None);
    };
    let request = keys::KeyRequest {
        org_id: &organization.id,
        name: "Bootstrap key",
        expires_at: None,
        scopes: Scope::ALL.to_vec(),
    };
    let key = keys::issue(store, request, now, AuditContext::system()).await?;
    Ok(Some(Bootstrap { organization, key }))
}

async fn first_organization(store: &dyn Store) -> Result<Organization, ServeError> {
    store
        .list_organizations()
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ServeError::NoSuchOrganization("(none exists)".into()))
}

async fn flush_usage_periodically(state: AppState, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => flush_usage(&state).await,
            _ = stop.changed() => return,
        }
    }
}

async fn flush_usage(state: &AppState) {
    let _settled = state.usage.settled().await;
    let usage = state.usage.take();
    if usage.is_empty() {
        return;
    }
    if let Err(e) = state.store.record_key_usage(usage.clone()).await {
        tracing::warn!(error = %e, "could not record API key usage; will retry");
        state.usage.restore(usage);
    }
}
