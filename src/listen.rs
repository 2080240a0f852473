//! The HTTP/1.1 accept loop. `axum::serve` keeps a connection open for as long as the client
//! likes, so a thousand slow or silent clients would each hold a socket forever; here every
//! connection has a header-read timeout, accept errors (such as running out of file descriptors)
//! back off instead of spinning, and shutdown lets requests in progress finish for a bounded time.

use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves `app` on `listener` until `stop` turns true; then closes the listener at once and
/// lets requests in progress finish for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    grace: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_read_timeout).keep_alive(true);
    loop {
        tokio::select! {
            // The guard `wait_for` returns must not live across an await: keep it inside.
            () = async { let _ = stop.wait_for(|stop| *stop).await; } => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    // A connection error (reset, timeout) concerns that client only.
                    let _ = connection.await;
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still running after {grace:?} of shutdown were dropped");
    }
}
