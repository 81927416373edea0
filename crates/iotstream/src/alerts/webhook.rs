//! `--alerts-webhook URL`: each alert notification POSTed as JSON, from a thread of its own.
//!
//! The engine only appends to a queue; the webhook thread sends the queue's head until the
//! receiver answers 2xx, pausing 100 ms, then twice as long each time up to
//! `--alerts-webhook-max-backoff`, while the receiver is down or answers 5xx, 408 or 429. So a
//! receiver that is down for a while gets every notification, in order, when it is back, and
//! the engine never waits for it. A 4xx answer (other than 408 and 429) is final: the
//! notification is dropped, logged and counted, rather than blocking every later one.
//!
//! The end of a run gives the receiver a few seconds to take what is queued; after a stop, at most
//! what is left of the stop's grace (`crate::signals`), a request in flight included: what is
//! still queued is in the last checkpoint (with `--state-dir`) and sent by the next run.
//!
//! Delivery is at least once: each request carries an `Idempotency-Key` header
//! (`FINGERPRINT-AT-SEQUENCE`, the same in every replay), so a receiver can drop repeats. A checkpoint
//! keeps the notifications still queued, and a restart sends them again, with those the replay
//! of the input produces. With a secret (`--alerts-webhook-secret-env VAR`), the body is signed:
//! `X-Iotstream-Signature: sha256=HEX`, the HMAC-SHA256 of the body under the secret. https URLs
//! are checked against the system's certificate roots (OpenSSL's; `SSL_CERT_FILE` names others).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Uri};
use iotstream_engine::alerts::Notification;

use super::{AlertArgs, AlertSink, Error};
use crate::instruments;
use crate::signals::Stop;
use crate::sinks::SinkError;

/// Notifications held for a receiver that is down; beyond this the oldest are dropped (logged,
/// counted) rather than letting memory grow without bound.
const QUEUE_CAP: usize = 100_000;
/// First pause between retries.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the end of a run waits for the queue to drain.
const DRAIN_WAIT: Duration = Duration::from_secs(5);

/// The queue between the engine and the webhook thread.
#[derive(Default)]
struct Queue {
    items: VecDeque<Notification>,
    stop: bool,
}

type Shared = Arc<(Mutex<Queue>, Condvar)>;

/// Where and how to send.
struct Target {
    uri: Uri,
    secret: Option<Vec<u8>>,
    max_backoff: Duration,
}

/// The webhook sink: the queue and its thread.
pub struct Webhook {
    shared: Shared,
    thread: Option<JoinHandle<()>>,
    /// The run's stop, which bounds the wait for the queue to drain at the end.
    stop: Stop,
}

impl Webhook {
    /// Checks the URL and secret and starts the thread.
    pub fn start(url: &str, args: &AlertArgs, stop: &Stop) -> Result<Webhook, Error> {
        let uri = check_url(url)?;
        let secret = match &args.alerts_webhook_secret_env {
            None => None,
            Some(var) => Some(std::env::var(var).map_err(|e| Error::NoSecret(var.clone(), e))?.into_bytes()),
        };
        let target = Target { uri, secret, max_backoff: args.alerts_webhook_max_backoff.max(FIRST_BACKOFF) };
        let shared: Shared = Arc::default();
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("alerts-webhook".into())
            .spawn(move || run(&worker, &target))
            .map_err(|e| Error::Start("the webhook thread", e))?;
        Ok(Webhook { shared, thread: Some(thread), stop: stop.clone() })
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.shared.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `http://` or `https://HOST[:PORT]/PATH`; anything else is refused before the run starts.
fn check_url(url: &str) -> Result<Uri, Error> {
    let uri: Uri = url.parse().map_err(|e| Error::NotAUrl(url.to_owned(), Box::new(e)))?;
    if !(matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()) {
        return Err(Error::NotHttp(url.to_owned()));
    }
    Ok(uri)
}

impl AlertSink for Webhook {
    fn deliver(&mut self, notes: &[Notification]) -> Result<(), SinkError> {
        self.requeue(notes);
        Ok(())
    }

    fn undelivered(&self) -> Vec<Notification> {
        self.queue().items.iter().cloned().collect()
    }

    fn requeue(&mut self, notes: &[Notification]) {
        let mut queue = self.queue();
        for note in notes {
            if queue.items.len() == QUEUE_CAP {
                if let Some(dropped) = queue.items.pop_front() {
                    tracing::error!(key = %dropped.idempotency_key(), "webhook queue full: oldest alert dropped");
                    instruments::record_webhook_dropped();
                }
            }
            queue.items.push_back(note.clone());
        }
        self.shared.1.notify_all();
    }
}

impl Drop for Webhook {
    /// Gives the receiver a few seconds (after a stop, what is left of its grace) to take what is
    /// queued, then stops the thread, waiting for it no longer than that (what is left is in the
    /// last checkpoint, when there is one).
    fn drop(&mut self) {
        let deadline = Instant::now() + self.stop.patience(DRAIN_WAIT);
        let mut queue = self.queue();
        while !queue.items.is_empty() && Instant::now() < deadline {
            let wait = deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(50));
            queue = self.shared.1.wait_timeout(queue, wait).unwrap_or_else(PoisonError::into_inner).0;
        }
        if !queue.items.is_empty() {
            tracing::warn!(
                undelivered = queue.items.len(),
                "webhook receiver did not take every alert before the end"
            );
        }
        queue.stop = true;
        drop(queue);
        self.shared.1.notify_all();
        // The thread sees the stop within a slice, its request in flight included.
        let Some(thread) = self.thread.take() else { return };
        let deadline = deadline.max(Instant::now() + Duration::from_millis(200));
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}

/// The webhook thread: sends the queue's head until taken, forever, until told to stop.
fn run(shared: &Shared, target: &Target) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!("webhook: cannot start its runtime: {error}");
            return;
        }
    };
    while let Some(note) = next(shared) {
        let outcome = runtime.block_on(send_until_taken(shared, target, &note));
        let mut queue = shared.0.lock().unwrap_or_else(PoisonError::into_inner);
        if outcome.is_some() && queue.items.front() == Some(&note) {
            queue.items.pop_front();
        }
        drop(queue);
        shared.1.notify_all();
    }
}

/// The queue's head, waiting for one; `None` when told to stop.
fn next(shared: &Shared) -> Option<Notification> {
    let mut queue = shared.0.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if queue.stop {
            return None;
        }
        if let Some(head) = queue.items.front() {
            return Some(head.clone());
        }
        queue = shared.1.wait(queue).unwrap_or_else(PoisonError::into_inner);
    }
}

fn stopping(shared: &Shared) -> bool {
    shared.0.lock().unwrap_or_else(PoisonError::into_inner).stop
}

/// Resolves once the thread is told to stop (looked at every 50 ms): a request in flight is
/// abandoned then.
async fn told_to_stop(shared: &Shared) {
    while !stopping(shared) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `note` until the receiver takes it (or refuses it for good): `Some` when done with it,
/// `None` when told to stop first.
async fn send_until_taken(shared: &Shared, target: &Target, note: &Notification) -> Option<()> {
    let body = match serde_json::to_vec(&note.record) {
        Ok(body) => Bytes::from(body),
        Err(error) => {
            tracing::error!("webhook: cannot encode an alert: {error}");
            return Some(());
        }
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        let attempt = tokio::time::timeout(REQUEST_TIMEOUT, post(target, note, body.clone()));
        let outcome = tokio::select! {
            outcome = attempt => outcome,
            () = told_to_stop(shared) => return None,
        };
        match outcome {
            Ok(Ok(status)) if (200..300).contains(&status) => {
                instruments::record_webhook(true);
                return Some(());
            }
            Ok(Ok(status)) if (400..500).contains(&status) && status != 408 && status != 429 => {
                tracing::error!(status, key = %note.idempotency_key(), "webhook receiver refused an alert; dropped");
                instruments::record_webhook_dropped();
                return Some(());
            }
            Ok(Ok(status)) => tracing::warn!(status, "webhook receiver failed; retrying"),
            Ok(Err(error)) => tracing::warn!("webhook receiver unreachable ({error}); retrying"),
            Err(_) => tracing::warn!("webhook receiver did not answer in time; retrying"),
        }
        instruments::record_webhook(false);
        let until = Instant::now() + backoff;
        while Instant::now() < until {
            if stopping(shared) {
                return None;
            }
            tokio::time::sleep(
                until.saturating_duration_since(Instant::now()).min(Duration::from_millis(50)),
            )
            .await;
        }
        backoff = (backoff * 2).min(target.max_backoff);
    }
}

/// One POST over a fresh connection (TLS for https, the server's certificate checked against the
/// system's roots, or `SSL_CERT_FILE`); the response's status.
async fn post(target: &Target, note: &Notification, body: Bytes) -> Result<u16, PostError> {
    let host = target.uri.host().unwrap_or("localhost");
    let https = target.uri.scheme_str() == Some("https");
    let port = target.uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let stream = tokio::net::TcpStream::connect((host, port)).await.map_err(PostError::at("connecting"))?;
    let request = request(target, host, note, body).map_err(PostError::at("building the request"))?;
    if !https {
        return exchange(stream, request).await;
    }
    let connector =
        tokio_native_tls::TlsConnector::from(native_tls::TlsConnector::new().map_err(PostError::at("TLS"))?);
    // An IP address in brackets (https://[::1]/) is checked without them.
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let tls = connector.connect(name, stream).await.map_err(PostError::at("TLS handshake"))?;
    exchange(tls, request).await
}

/// Why a POST did not get an answer: what it was doing, and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
struct PostError {
    what: &'static str,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl PostError {
    /// An error of this step.
    fn at<E: std::error::Error + Send + Sync + 'static>(what: &'static str) -> impl FnOnce(E) -> PostError {
        move |source| PostError { what, source: Box::new(source) }
    }
}

/// The POST of `note`, with its idempotency key and, with a secret, its signature.
fn request(
    target: &Target,
    host: &str,
    note: &Notification,
    body: Bytes,
) -> Result<Request<Full<Bytes>>, hyper::http::Error> {
    let authority = target.uri.authority().map_or(host.to_owned(), |a| a.as_str().to_owned());
    let path = target.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, concat!("iotstream/", env!("CARGO_PKG_VERSION")))
        .header("Idempotency-Key", note.idempotency_key());
    if let Some(secret) = &target.secret {
        request = request.header("X-Iotstream-Signature", format!("sha256={}", sign(secret, &body)));
    }
    request.body(Full::new(body))
}

/// Sends `request` over `io` (HTTP/1.1); the response's status.
async fn exchange<IO>(io: IO, request: Request<Full<Bytes>>) -> Result<u16, PostError>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
        .await
        .map_err(PostError::at("handshake"))?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(PostError::at("sending"))?;
    let status = response.status().as_u16();
    // Read the answer to its end so the connection closes cleanly; its content does not matter.
    let _ = response.into_body().collect().await;
    Ok(status)
}

/// HMAC-SHA256 of `body` under `secret`, in lowercase hex.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    use hmac::{KeyInit as _, Mac as _};
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        // HMAC takes keys of any length; this cannot happen.
        return String::new();
    };
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_rfc_4231() {
        // RFC 4231, test case 2.
        let want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(sign(b"Jefe", b"what do ya want for nothing?"), want);
    }

    #[test]
    fn only_http_and_https_urls_are_taken() {
        assert!(check_url("http://127.0.0.1:9/hook").is_ok());
        assert!(check_url("https://example.com/hook").is_ok());
        assert!(check_url("ftp://example.com/hook").is_err());
        assert!(check_url("not a url").is_err());
    }
}
