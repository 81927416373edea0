//! Router-level tests: every route driven in-process, without a port or a browser.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use iotstream_engine::{Aggregate, EventTime, Parser, StatsRecord, WindowResult};
use tower::ServiceExt as _;

use super::*;

const LINE: &str = r#"{"guid":"0-ZZZ12345678-08K","destination":"0-AAA12345678","state":"CA","eventTime":"2016-11-16T13:26:39.447974Z","payload":{"format":"urn:example:sensor:temp","data":{"temperature":59.7}}}"#;
const TOKEN: &str = "a-token-long-enough-1234";

fn info() -> RunInfo {
    RunInfo {
        version: "test",
        source: "file".into(),
        time: "processing",
        window_seconds: 3.0,
        slide_seconds: 3.0,
        history: false,
        queries: Vec::new(),
    }
}

fn result(end: i64) -> WindowResult {
    let mut aggregate = Aggregate::default();
    aggregate.add(&Parser::default().parse(LINE.as_bytes()).unwrap());
    WindowResult::from_aggregate(EventTime(end - 3_000_000), EventTime(end), &aggregate)
}

fn stats(readings: u64) -> StatsRecord {
    StatsRecord {
        record_type: Default::default(),
        at: EventTime(5_000_000),
        watermark: None,
        readings,
        rejected: 0,
        rejected_by_reason: Default::default(),
        late_by_state: Default::default(),
        open_windows: 0,
        sensors: 1,
        offline: 0,
        offline_by_state: Default::default(),
        consumer_lag: None,
        scale_out: None,
        data_lost: 0,
        queries: Vec::new(),
    }
}

fn app(
    token: Option<&str>,
    rate: u32,
) -> (Router, Arc<Hub>, tokio::sync::mpsc::Receiver<crate::channel::SensorQuery>) {
    let (hub, queries) = Hub::new(&info());
    let router = router(Arc::clone(&hub), metrics().unwrap(), Guard::new(token.map(str::to_owned), rate));
    (router, hub, queries)
}

async fn get(
    router: &Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    (parts.status, parts.headers, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn serves_the_page_assets_and_api() {
    let (router, hub, _queries) = app(None, 1000);
    let (status, headers, body) = get(&router, "/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<svg id=\"map\""), "{body}");
    assert!(headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("default-src 'self'"));
    for asset in
        ["app.js", "uPlot.iife.min.js", "topojson-client.min.js", "states-albers-10m.json", "LICENSES.txt"]
    {
        let (status, _, body) = get(&router, &format!("/assets/{asset}"), &[]).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        assert!(!body.is_empty());
    }
    assert_eq!(get(&router, "/assets/nope.js", &[]).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&router, "/api/status", &[]).await.2, "null");
    assert_eq!(get(&router, "/api/windows", &[]).await.2, "[]");

    for end in 1..=5 {
        hub.publish_result(&result(end * 3_000_000)).unwrap();
    }
    hub.publish_status(&stats(42)).unwrap();
    let (_, _, body) = get(&router, "/api/windows?limit=2", &[]).await;
    let windows: Vec<WindowResult> = serde_json::from_str(&body).unwrap();
    assert_eq!(
        windows.iter().map(|w| w.window_end.as_micros()).collect::<Vec<_>>(),
        [12_000_000, 15_000_000]
    );
    assert_eq!(windows[1].states[0].state, "CA");
    let status: StatsRecord = serde_json::from_str(&get(&router, "/api/status", &[]).await.2).unwrap();
    assert_eq!(status.readings, 42);
    for readings in 43..=400 {
        hub.publish_status(&stats(readings)).unwrap();
    }
    let history: Vec<StatsRecord> = serde_json::from_str(&get(&router, "/api/stats", &[]).await.2).unwrap();
    assert_eq!(history.len(), hub::RECENT_STATUS);
    assert_eq!((history[0].readings, history[299].readings), (101, 400));
    let history: Vec<StatsRecord> =
        serde_json::from_str(&get(&router, "/api/stats?limit=2", &[]).await.2).unwrap();
    assert_eq!(history.iter().map(|s| s.readings).collect::<Vec<_>>(), [399, 400]);
    assert!(get(&router, "/api/info", &[]).await.2.contains("\"source\":\"file\""));
    assert_eq!(get(&router, "/api/windows?limit=x", &[]).await.0, StatusCode::BAD_REQUEST);
    let (status, _, body) = get(&router, "/metrics", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("iotstream_http_requests_total"), "{body}");
}

#[tokio::test]
async fn sensor_lookups_are_answered_by_the_engine() {
    let (router, _hub, mut queries) = app(None, 1000);
    // Stands in for the pipeline, which answers from its sensor table between chunks.
    let mut table = iotstream_engine::live::SensorTable::default();
    table.update(&Parser::default().parse(LINE.as_bytes()).unwrap(), EventTime(7));
    tokio::spawn(async move {
        while let Some(query) = queries.recv().await {
            let _ = query.reply.send(table.get(&query.guid).cloned());
        }
    });
    let (status, _, body) = get(&router, "/api/sensors/0-ZZZ12345678-08K", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"temperature\":59.7"), "{body}");
    assert_eq!(get(&router, "/api/sensors/unknown", &[]).await.0, StatusCode::NOT_FOUND);
    let long = format!("/api/sensors/{}", "x".repeat(300));
    assert_eq!(get(&router, &long, &[]).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_stopped_engine_makes_lookups_unavailable() {
    let (router, _hub, queries) = app(None, 1000);
    drop(queries);
    assert_eq!(get(&router, "/api/sensors/a", &[]).await.0, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn the_token_guards_every_route_but_healthz() {
    let (router, _hub, _queries) = app(Some(TOKEN), 1000);
    for uri in ["/", "/api/windows", "/api/events", "/metrics", "/assets/app.js", "/api/sensors/a"] {
        let (status, headers, _) = get(&router, uri, &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        let wrong = get(&router, uri, &[("authorization", "Bearer a-token-long-enough-1235")]).await;
        assert_eq!(wrong.0, StatusCode::UNAUTHORIZED, "{uri}");
    }
    assert_eq!(get(&router, "/healthz", &[]).await.0, StatusCode::OK);
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(get(&router, "/api/windows", &[("authorization", &bearer)]).await.0, StatusCode::OK);

    // A browser: the token once in the URL, then a cookie, and the URL cleaned.
    let (status, headers, _) = get(&router, &format!("/?token={TOKEN}"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(get(&router, "/api/status", &[("cookie", pair)]).await.0, StatusCode::OK);
    assert_eq!(get(&router, "/?token=wrong", &[]).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn too_many_requests_are_refused() {
    let (router, _hub, _queries) = app(None, 5);
    let mut statuses = Vec::new();
    for _ in 0..15 {
        statuses.push(get(&router, "/healthz", &[]).await.0);
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 10, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
}

#[tokio::test]
async fn the_event_stream_starts_with_the_status_then_follows() {
    use http_body_util::BodyExt as _;
    let (router, hub, _queries) = app(None, 1000);
    hub.publish_status(&stats(7)).unwrap();
    let response = router.oneshot(Request::get("/api/events").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let first = String::from_utf8_lossy(&first).into_owned();
    assert!(first.starts_with("event: stats\ndata: {") && first.contains("\"readings\":7"), "{first}");
    hub.publish_result(&result(3_000_000)).unwrap();
    let next = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(String::from_utf8_lossy(&next).starts_with("event: window\ndata: {\"type\":\"window\""));
    assert_eq!(hub.subscribers(), 1);
    drop(body);
    assert_eq!(hub.subscribers(), 0);
}

#[test]
fn refuses_unsafe_listening() {
    let config = |addr: &str, token: Option<&str>| ServerConfig {
        addr: addr.parse().unwrap(),
        token: token.map(str::to_owned),
        rate_limit: 10,
    };
    assert!(config("127.0.0.1:0", None).check().is_ok());
    assert!(config("[::1]:0", None).check().is_ok());
    let open = config("0.0.0.0:8080", None).check().unwrap_err().to_string();
    assert!(open.contains("--http-token"), "{open}");
    assert!(config("0.0.0.0:8080", Some(TOKEN)).check().is_ok());
    assert!(config("0.0.0.0:8080", Some("short")).check().is_err());
    assert!(config("0.0.0.0:8080", Some("has a space in it!!")).check().is_err());
}
