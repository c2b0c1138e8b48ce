//! A hostile DigitalOcean for the tests: a proxy in front of a real simulator that passes honest
//! answers through and tampers with them as a broken or malicious API would (links to other
//! hosts, lists that never end, endless bodies, redirects, errors that quote the token).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// How the fake misbehaves (anything it does not tamper with passes through unchanged).
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Passes everything through unchanged.
    Honest,
    /// Droplet lists name `next` as this URL (another origin, say).
    NextLinkTo(String),
    /// Droplet lists claim 201 droplets and always link to page 2, whatever page is read.
    SamePageForever,
    /// Droplet lists always link to the following page; with `fresh`, each page holds droplets
    /// with ids never seen before, otherwise the same droplets again. Each page waits `delay`.
    EndlessPages { fresh: bool, delay: Duration },
    /// Droplet lists claim `meta.total` is a trillion.
    HugeTotal,
    /// Droplet lists are a chunked body that never ends.
    EndlessBody,
    /// Droplet lists declare a 500 MB body (and would send it).
    HugeDeclaredBody,
    /// Every call is redirected to this URL.
    RedirectTo(String),
    /// Every call is refused with a 401 whose message quotes the `Authorization` header.
    EchoTokenUnauthorized,
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub authorization: Option<String>,
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    http: reqwest::Client,
    behaviour: Arc<Mutex<Behaviour>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    bytes_sent: Arc<AtomicU64>,
}

/// The running fake.
pub struct HostileUpstream {
    pub base_url: String,
    shared: Shared,
}

impl HostileUpstream {
    /// Starts the fake in front of `upstream` (a simulator's base URL).
    pub async fn start(upstream: &str, behaviour: Behaviour) -> Self {
        let shared = Shared {
            upstream: upstream.to_owned(),
            http: reqwest::Client::new(),
            behaviour: Arc::new(Mutex::new(behaviour)),
            seen: Arc::new(Mutex::new(Vec::new())),
            bytes_sent: Arc::new(AtomicU64::new(0)),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind hostile upstream");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Router::new().fallback(answer).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base_url, shared }
    }

    /// Changes the behaviour from the next request on.
    pub fn set(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().expect("lock") = behaviour;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("lock").clone()
    }

    /// Requests for the droplet list received so far.
    pub fn droplet_lists(&self) -> usize {
        self.seen().iter().filter(|s| s.path_and_query.starts_with("/v2/droplets?")).count()
    }

    /// Body bytes the fake has handed to the network for its endless or huge bodies.
    pub fn bytes_sent(&self) -> u64 {
        self.shared.bytes_sent.load(Ordering::Relaxed)
    }
}

/// A server that records every request it gets: where a stolen token would arrive.
pub struct Catcher {
    pub base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Catcher {
    pub async fn start() -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind catcher");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let recorded = seen.clone();
        let app = Router::new().fallback(move |request: Request| {
            let recorded = recorded.clone();
            async move {
                recorded.lock().expect("lock").push(seen_of(&request));
                json!({ "droplets": [], "meta": { "total": 0 } }).to_string()
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base_url, seen }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

fn seen_of(request: &Request) -> Seen {
    Seen {
        method: request.method().to_string(),
        path_and_query: request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        authorization: request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// The simulator's answer to `request`, as status and JSON (or raw bytes when not JSON).
async fn forward(shared: &Shared, seen: &Seen, headers: &HeaderMap, body: Bytes) -> (StatusCode, Bytes) {
    let method = reqwest::Method::from_bytes(seen.method.as_bytes()).expect("method");
    let mut request = shared
        .http
        .request(method, format!("{}{}", shared.upstream, seen.path_and_query))
        .body(body.to_vec());
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    let response = request.send().await.expect("simulator answers");
    let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
    (status, response.bytes().await.expect("body"))
}

fn page_of(path_and_query: &str) -> u64 {
    path_and_query.split(['?', '&']).find_map(|pair| pair.strip_prefix("page=")?.parse().ok()).unwrap_or(1)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// A body that yields 64 KiB chunks, `limit` bytes in all (`None`: forever), counting them.
fn streamed(counter: Arc<AtomicU64>, limit: Option<u64>) -> Body {
    let chunk = Bytes::from(vec![b' '; 64 * 1024]);
    let stream = futures_util::stream::unfold(0u64, move |sent| {
        let chunk = chunk.clone();
        let counter = counter.clone();
        async move {
            if limit.is_some_and(|l| sent >= l) {
                return None;
            }
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            Some((Ok::<_, std::io::Error>(chunk.clone()), sent + chunk.len() as u64))
        }
    });
    Body::from_stream(stream)
}

async fn answer(State(shared): State<Shared>, request: Request) -> Response {
    let seen = seen_of(&request);
    shared.seen.lock().expect("lock").push(seen.clone());
    let behaviour = shared.behaviour.lock().expect("lock").clone();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap_or_default();
    let droplet_list = seen.method == "GET" && seen.path_and_query.starts_with("/v2/droplets?");
    match behaviour {
        Behaviour::RedirectTo(to) => {
            return (StatusCode::FOUND, [(header::LOCATION, format!("{to}{}", seen.path_and_query))])
                .into_response();
        }
        Behaviour::EchoTokenUnauthorized => {
            let quoted = seen.authorization.clone().unwrap_or_default();
            let body = json!({
                "id": "unauthorized",
                "message": format!("Unable to authenticate you: {quoted} is not a valid token"),
                "request_id": "hostile-req-1",
            });
            return json_response(StatusCode::UNAUTHORIZED, &body);
        }
        Behaviour::EndlessBody if droplet_list => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                streamed(shared.bytes_sent.clone(), None),
            )
                .into_response();
        }
        Behaviour::HugeDeclaredBody if droplet_list => {
            let size: u64 = 500_000_000;
            let mut response =
                (StatusCode::OK, streamed(shared.bytes_sent.clone(), Some(size))).into_response();
            response.headers_mut().insert(header::CONTENT_LENGTH, size.into());
            response.headers_mut().insert(header::CONTENT_TYPE, "application/json".parse().expect("value"));
            return response;
        }
        _ => {}
    }
    // Endless pages are page 1 again and again (the simulator itself has one page).
    let asked = match behaviour {
        Behaviour::EndlessPages { .. } if droplet_list => {
            Seen { path_and_query: "/v2/droplets?page=1&per_page=200".to_owned(), ..seen.clone() }
        }
        _ => seen.clone(),
    };
    let (status, bytes) = forward(&shared, &asked, &headers, body).await;
    if !droplet_list || !status.is_success() {
        return (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response();
    }
    let mut list: Value = serde_json::from_slice(&bytes).expect("the simulator sends JSON");
    let page = page_of(&seen.path_and_query);
    match behaviour {
        Behaviour::NextLinkTo(to) => {
            list["links"] = json!({ "pages": { "next": format!("{to}?page={}", page + 1) } });
        }
        Behaviour::SamePageForever => {
            list["meta"]["total"] = json!(201);
            list["links"] = json!({ "pages": { "next": "https://api.digitalocean.com/v2/droplets?page=2" } });
        }
        Behaviour::EndlessPages { fresh, delay } => {
            tokio::time::sleep(delay).await;
            if fresh && let Some(droplets) = list["droplets"].as_array_mut() {
                for droplet in droplets.iter_mut() {
                    let id = droplet["id"].as_u64().expect("id");
                    droplet["id"] = json!(id + page * 1_000_000);
                }
            }
            list["links"] = json!({ "pages": { "next": format!("https://api.digitalocean.com/v2/droplets?page={}", page + 1) } });
        }
        Behaviour::HugeTotal => list["meta"]["total"] = json!(1_000_000_000_000u64),
        _ => {}
    }
    json_response(StatusCode::OK, &list)
}
