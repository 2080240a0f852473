//! The receiver's own accept loop. axum's `serve` cannot reset a connection, and a receiver that
//! rehearses failures must be able to: each connection carries a [`ConnControl`] that a handler
//! uses to close it with a TCP reset instead of answering.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// Lets a handler abort its own connection.
#[derive(Clone, Default)]
pub(crate) struct ConnControl {
    reset: Arc<AtomicBool>,
    abort: Arc<Notify>,
}

impl ConnControl {
    /// Closes the connection with a TCP reset; the pending response is never sent.
    pub fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
        self.abort.notify_one();
    }
}

/// A TCP stream that, when dropped after [`ConnControl::reset`], closes with `RST` instead of `FIN`.
struct ResettableStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Serves HTTP/1.1 on `listener` until `shutdown` fires; then every open connection is dropped.
pub(crate) async fn serve(listener: TcpListener, router: Router, mut shutdown: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and similar: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let control = ConnControl::default();
                let io = TokioIo::new(ResettableStream { inner: stream, reset: Arc::clone(&control.reset) });
                let router = router.clone();
                let for_requests = control.clone();
                let service = tower::service_fn(move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(for_requests.clone());
                    router.clone().oneshot(req)
                });
                connections.spawn(async move {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, TowerToHyperService::new(service));
                    tokio::select! {
                        _ = conn => {}
                        _ = control.abort.notified() => {}
                    }
                });
            }
        }
    }
}
