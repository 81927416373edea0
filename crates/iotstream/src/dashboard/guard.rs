//! What every request passes through before a handler: a rate limit, the bearer-token check, and
//! the response headers that keep the page to itself (no framing, no third-party sources).
//!
//! A browser cannot put a bearer token on a page load or an `EventSource`, so a token may also come
//! once as `/?token=…`: the server answers with an HttpOnly, same-site cookie and a redirect to the
//! bare URL (so the token does not stay in the address bar or history), and the cookie is accepted
//! like the header from then on. `/healthz` is always open, for load balancers and probes.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::instruments;

/// Name of the cookie that carries the token after `/?token=…`.
const COOKIE: &str = "iotstream_token";

/// Access rules of one server.
pub struct Guard {
    token: Option<String>,
    bucket: Mutex<TokenBucket>,
}

impl Guard {
    /// Requires `token` (if any) and admits at most `per_second` requests per second on average,
    /// with bursts of twice that.
    pub fn new(token: Option<String>, per_second: u32) -> Guard {
        let rate = f64::from(per_second.max(1));
        Guard { token, bucket: Mutex::new(TokenBucket::new(rate, 2.0 * rate)) }
    }

    fn admit(&self) -> bool {
        self.bucket.lock().unwrap_or_else(PoisonError::into_inner).take(Instant::now())
    }

    /// True if the request carries the token (or none is required).
    fn authorised(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else { return true };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
            .next();
        [bearer, cookie].into_iter().flatten().any(|given| same(given.as_bytes(), token.as_bytes()))
    }
}

/// Compares without stopping at the first difference, so response times do not reveal how much
/// of a guessed token was right.
fn same(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The middleware.
pub async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = if !guard.admit() {
        let mut response = (StatusCode::TOO_MANY_REQUESTS, "too many requests\n").into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        response
    } else if route == "/healthz" || guard.authorised(request.headers()) {
        next.run(request).await
    } else if let Some(response) = token_in_query(&guard, &request) {
        response
    } else {
        let mut response = (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    };
    metrics::counter!(instruments::HTTP_REQUESTS, "route" => route, "status" => response.status().as_str().to_owned())
        .increment(1);
    secure(response)
}

/// `/?token=…` with the right token: sets the cookie and redirects to `/`.
fn token_in_query(guard: &Guard, request: &Request) -> Option<Response> {
    let token = guard.token.as_deref()?;
    let query = request.uri().query()?;
    let given = query.split('&').find_map(|pair| pair.strip_prefix("token="))?;
    if request.uri().path() != "/" || !same(given.as_bytes(), token.as_bytes()) {
        return None;
    }
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).ok()?);
    Some(response)
}

/// Headers on every response: nothing may frame the page, load from elsewhere, or sniff types.
fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// A token bucket: `rate` tokens a second up to `burst`; a request takes one.
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    fn new(rate: f64, burst: f64) -> TokenBucket {
        TokenBucket { rate, burst, tokens: burst, at: Instant::now() }
    }

    fn take(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_bursts_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 20.0);
        bucket.at = start;
        assert_eq!((0..25).filter(|_| bucket.take(start)).count(), 20);
        assert!(!bucket.take(start));
        assert_eq!((0..25).filter(|_| bucket.take(start + Duration::from_millis(500))).count(), 5);
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abd", b"abc"));
        assert!(!same(b"ab", b"abc"));
        assert!(!same(b"", b"abc"));
    }
}
