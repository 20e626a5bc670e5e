//! Pass-through routes: a path prefix forwarded to an upstream pool, with
//! X-Forwarded-For, bodies, failover between upstream instances, and
//! WebSocket upgrades spliced through to the upstream.

use futures::{SinkExt, StreamExt};
use std::net::SocketAddr;
use testkit::TestServer;
use tokio_tungstenite::tungstenite::Message;

/// An HTTP upstream that describes the request it got.
/// Dropping (or sending on) the returned sender shuts it down, idle
/// keep-alive connections included.
async fn describing_upstream(name: &'static str) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    use axum::extract::Request;
    let app = axum::Router::new().fallback(move |req: Request| async move {
        let xff = req.headers().get("x-forwarded-for").map(|v| v.to_str().unwrap().to_string());
        let upgrade = req.headers().get("upgrade").map(|v| v.to_str().unwrap().to_string());
        let method = req.method().to_string();
        let uri = req.uri().to_string();
        let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap();
        axum::Json(serde_json::json!({
            "upstream": name, "method": method, "uri": uri, "xff": xff, "upgrade": upgrade,
            "body": String::from_utf8_lossy(&body),
        }))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap()
    });
    (addr, stop)
}

/// A WebSocket upstream that echoes every message, prefixed.
async fn websocket_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                while let Some(Ok(msg)) = ws.next().await {
                    if let Message::Text(t) = msg {
                        ws.send(Message::text(format!("echo: {t}"))).await.unwrap();
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn prefixes_pass_through_with_failover_and_websocket_upgrades() {
    let (a, a_task) = describing_upstream("a").await;
    let (b, _b_task) = describing_upstream("b").await;
    let ws = websocket_upstream().await;
    let server = TestServer::start_with(|c| {
        let route = |prefix: &str, upstream: Vec<String>| {
            let mut r: gateway::proxy::ProxyRouteConfig =
                serde_json::from_value(serde_json::json!({"prefix": prefix, "upstream": upstream})).unwrap();
            r.pool.health_path = "/".into();
            r.pool.health_interval_ms = 200;
            r
        };
        c.proxy =
            vec![route("/ext", vec![a.to_string(), b.to_string()]), route("/api/v1/streaming", vec![ws.to_string()])];
        // This test client stands for a front proxy: its chain goes on.
        c.http.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let http = reqwest::Client::new();

    let got: serde_json::Value = http
        .post(format!("{}/ext/deep/path?x=1&y=2", server.base))
        .header("x-forwarded-for", "203.0.113.5")
        .body("hello upstream")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["method"], "POST");
    assert_eq!(got["uri"], "/ext/deep/path?x=1&y=2");
    assert_eq!(got["body"], "hello upstream");
    assert_eq!(got["xff"], "203.0.113.5, 127.0.0.1");

    // Both instances take traffic; with one gone, nothing fails.
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let v: serde_json::Value = http.get(format!("{}/ext", server.base)).send().await.unwrap().json().await.unwrap();
        seen.insert(v["upstream"].as_str().unwrap().to_string());
    }
    assert_eq!(seen.len(), 2, "only {seen:?} took traffic");
    drop(a_task);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let refused = tokio::net::TcpStream::connect(a).await;
    assert!(refused.is_err(), "upstream a still accepts connections");
    for i in 0..30 {
        let r = http.get(format!("{}/ext/after", server.base)).send().await.unwrap();
        assert_eq!(r.status(), 200, "request {i} after an upstream went away");
    }
    // Not under the prefix: the gateway's own 404.
    assert_eq!(http.get(format!("{}/extra", server.base)).send().await.unwrap().status(), 404);
    // Proxied requests get request ids (the client's kept) and are counted
    // under their route pattern.
    let r = http.get(format!("{}/ext/id", server.base)).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = http.get(format!("{}/ext/id", server.base)).send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"].len(), 36, "a UUID");
    let metrics = http.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"aviary_http_requests_total{method="GET",route="/ext/{*rest}",status="200"}"#),
        "{metrics}"
    );

    // WebSocket through the gateway.
    let url = format!("ws://{}/api/v1/streaming?stream=public", server.addr);
    let (mut socket, resp) = tokio_tungstenite::connect_async(url).await.expect("upgrade through the gateway");
    assert_eq!(resp.status(), 101);
    for i in 0..3 {
        socket.send(Message::text(format!("ping {i}"))).await.unwrap();
        let back = socket.next().await.unwrap().unwrap();
        assert_eq!(back, Message::text(format!("echo: ping {i}")));
    }
    socket.close(None).await.unwrap();
}

#[test]
fn a_prefix_that_shadows_the_api_is_refused() {
    for prefix in ["/api/v1/statuses", "/api", "/oauth/x", "nope", "/trailing/"] {
        let r: gateway::proxy::ProxyRouteConfig =
            serde_json::from_value(serde_json::json!({"prefix": prefix, "upstream": ["127.0.0.1:1"]})).unwrap();
        let settings = gateway::GatewaySettings { proxy: vec![r], ..Default::default() };
        assert!(settings.validate().is_err(), "{prefix} accepted");
    }
}

/// An upstream that answers after `delay`.
async fn slow_upstream(delay: std::time::Duration) -> SocketAddr {
    let app = axum::Router::new().fallback(move || async move {
        tokio::time::sleep(delay).await;
        "late"
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn overload_is_shed_at_once_and_slow_routes_end_at_their_budget() {
    use std::time::{Duration, Instant};
    let slow = slow_upstream(Duration::from_millis(600)).await;
    let slower = slow_upstream(Duration::from_secs(5)).await;
    let server = TestServer::start_with(|c| {
        let route = |prefix: &str, upstream: SocketAddr| {
            let mut r: gateway::proxy::ProxyRouteConfig =
                serde_json::from_value(serde_json::json!({"prefix": prefix, "upstream": [upstream.to_string()]}))
                    .unwrap();
            r.pool.health_interval_ms = 0;
            r.pool.attempt_timeout_ms = 10_000;
            r.pool.call_timeout_ms = 10_000;
            r
        };
        c.proxy = vec![route("/slow", slow), route("/slower", slower)];
        c.http.max_in_flight = 2;
        c.http.route_timeouts_ms.insert("/slower/{*rest}".into(), 300);
    })
    .await;
    let http = reqwest::Client::new();

    // Ten at once against a limit of two: two are served, the rest are
    // refused at once with a hint, not queued behind the slow ones.
    let started = Instant::now();
    let answers = futures::future::join_all((0..10).map(|_| {
        let http = http.clone();
        let url = format!("{}/slow/x", server.base);
        async move {
            let t = Instant::now();
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.headers().get("retry-after").cloned(), t.elapsed(), r.text().await.unwrap())
        }
    }))
    .await;
    let served = answers.iter().filter(|a| a.0 == 200).count();
    let shed: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert_eq!(served + shed.len(), 10, "{answers:?}");
    assert!((1..=2).contains(&served), "{served} served: {answers:?}");
    for (_, retry_after, took, body) in &shed {
        assert_eq!(retry_after.as_ref().map(|v| v.to_str().unwrap()), Some("1"));
        assert!(*took < Duration::from_millis(400), "shedding took {took:?}");
        assert!(body.contains("\"error\""), "{body}");
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // Capacity comes back when the slow ones finish.
    assert_eq!(http.get(format!("{}/slow/y", server.base)).send().await.unwrap().status(), 200);

    // A route with a 300 ms budget and an upstream that takes 5 s.
    let t = Instant::now();
    let r = http.get(format!("{}/slower/z", server.base)).send().await.unwrap();
    assert_eq!(r.status(), 504);
    assert_eq!(r.headers()["retry-after"], "1");
    assert!(t.elapsed() < Duration::from_secs(2), "the budget did not hold: {:?}", t.elapsed());
    assert!(r.text().await.unwrap().contains("\"error\""));
}

/// Reads one HTTP/1.1 answer from `tcp` (after what `buf` already holds):
/// status, headers (lower-case names) and the body, de-chunked.
async fn read_answer(tcp: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    async fn fill(tcp: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) {
        let mut chunk = [0u8; 8192];
        let n = tcp.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed in the middle of an answer");
        buf.extend_from_slice(&chunk[..n]);
    }
    let (status, headers, head_len) = loop {
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut slots);
        if let httparse::Status::Complete(n) = r.parse(buf).unwrap() {
            let headers: Vec<(String, String)> = r
                .headers
                .iter()
                .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).to_string()))
                .collect();
            break (r.code.unwrap(), headers, n);
        }
        fill(tcp, buf).await;
    };
    buf.drain(..head_len);
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if let Some(len) = header("content-length") {
        let len: usize = len.parse().unwrap();
        while buf.len() < len {
            fill(tcp, buf).await;
        }
        body.extend(buf.drain(..len));
    } else if header("transfer-encoding").as_deref() == Some("chunked") {
        loop {
            while !buf.windows(2).any(|w| w == b"\r\n") {
                fill(tcp, buf).await;
            }
            let line_end = buf.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&buf[..line_end]).unwrap().trim(), 16).unwrap();
            while buf.len() < line_end + 2 + size + 2 {
                fill(tcp, buf).await;
            }
            body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
            buf.drain(..line_end + 2 + size + 2);
            if size == 0 {
                break;
            }
        }
    }
    (status, headers, body)
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

/// An upstream whose answers have no length: hyper sends them chunked.
async fn streaming_upstream() -> SocketAddr {
    let app = axum::Router::new().fallback(|| async {
        let parts =
            futures::stream::iter(["first ", "second ", "third"].map(|s| Ok::<_, std::io::Error>(s.to_string())));
        axum::body::Body::from_stream(parts)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn plain_http1_connections_mix_fast_path_and_api_requests_in_order() {
    use tokio::io::AsyncWriteExt;
    let (a, _a_task) = describing_upstream("a").await;
    let streaming = streaming_upstream().await;
    let server = TestServer::start_with(|c| {
        let route = |prefix: &str, upstream: SocketAddr| {
            let mut r: gateway::proxy::ProxyRouteConfig =
                serde_json::from_value(serde_json::json!({"prefix": prefix, "upstream": [upstream.to_string()]}))
                    .unwrap();
            r.pool.health_path = "/".into();
            r
        };
        c.proxy = vec![route("/ext", a), route("/stream", streaming)];
        c.http.body_limit_bytes = 4096;
    })
    .await;
    let fast_path_count = || async {
        let text = reqwest::get(format!("{}/metrics", server.base)).await.unwrap().text().await.unwrap();
        let line =
            text.lines().find(|l| l.starts_with("aviary_gateway_fast_path_requests_total ")).expect("the counter");
        line.rsplit(' ').next().unwrap().parse::<u64>().unwrap()
    };
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut buf = Vec::new();

    // Two pipelined requests, a body on the second: answered in order.
    tcp.write_all(
        b"GET /ext/one/ HTTP/1.1\r\nhost: x\r\n\r\nPOST /ext/two?q=1 HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello",
    )
    .await
    .unwrap();
    let (status, headers, body) = read_answer(&mut tcp, &mut buf).await;
    assert_eq!(status, 200);
    // Forwarded as it came, trailing slash included; ids and a date added.
    assert_eq!(json(&body)["uri"], "/ext/one/");
    assert_eq!(json(&body)["xff"], "127.0.0.1");
    assert!(headers.iter().any(|(n, v)| n == "x-request-id" && v.len() == 36), "{headers:?}");
    assert!(headers.iter().any(|(n, _)| n == "date"), "{headers:?}");
    let (status, _, body) = read_answer(&mut tcp, &mut buf).await;
    assert_eq!(
        (status, json(&body)["uri"].as_str(), json(&body)["body"].as_str()),
        (200, Some("/ext/two?q=1"), Some("hello"))
    );

    // HEAD: the length, no body — the next answer on the connection is intact.
    tcp.write_all(b"HEAD /ext/head HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    loop {
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut slots);
        if let httparse::Status::Complete(n) = r.parse(&buf).unwrap() {
            assert_eq!(r.code, Some(200));
            assert!(r.headers.iter().any(|h| h.name.eq_ignore_ascii_case("content-length")));
            buf.drain(..n);
            break;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::io::AsyncReadExt::read(&mut tcp, &mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
    }
    // An upstream answer without a length reaches the client chunked.
    tcp.write_all(b"GET /stream/x HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let (status, headers, body) = read_answer(&mut tcp, &mut buf).await;
    assert_eq!((status, body.as_slice()), (200, &b"first second third"[..]));
    assert!(headers.iter().any(|(n, v)| n == "transfer-encoding" && v == "chunked"), "{headers:?}");

    assert_eq!(fast_path_count().await, 4, "pipelined GET and POST, HEAD, the chunked answer");

    // An API request on the same connection goes to the full stack, and
    // so does everything after it, pass-through included.
    tcp.write_all(b"GET /api/v1/instance/ HTTP/1.1\r\nhost: x\r\n\r\nGET /ext/after HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let (status, _, body) = read_answer(&mut tcp, &mut buf).await;
    assert_eq!((status, json(&body)["title"].as_str()), (200, Some("Aviary")));
    let (status, _, body) = read_answer(&mut tcp, &mut buf).await;
    assert_eq!((status, json(&body)["uri"].as_str()), (200, Some("/ext/after")));

    // A chunked upload is not the fast path's: hyper takes it, same answer.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut buf = Vec::new();
    tcp.write_all(
        b"POST /ext/up HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    )
    .await
    .unwrap();
    let (status, _, body) = read_answer(&mut tcp, &mut buf).await;
    assert_eq!((status, json(&body)["body"].as_str()), (200, Some("abcde")));

    // HTTP/1.0 without keep-alive: one answer, then the connection closes.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /ext/old HTTP/1.0\r\n\r\n").await.unwrap();
    let mut all = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut all).await.unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && text.contains("connection: close"), "{text}");
    assert!(text.contains(r#""uri":"/ext/old""#), "{text}");

    // Garbage is hyper's to refuse, as before the fast path.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /ext/bad HTTP/1.1\r\nbad header\r\n\r\n").await.unwrap();
    let mut all = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut all).await.unwrap();
    assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 400"), "{}", String::from_utf8_lossy(&all));

    // HTTP/2 with prior knowledge still works where the fast path is on.
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut h2, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    let req = http::Request::get("http://x/ext/h2").body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap();
    let resp = h2.send_request(req).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let body = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
    assert_eq!(json(&body)["uri"], "/ext/h2");
    assert_eq!(fast_path_count().await, 5, "only the HTTP/1.0 request besides the first four");

    // A body over the limit is not the fast path's either: the full stack
    // refuses it in Mastodon's error shape, and it never reaches the upstream.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut buf = Vec::new();
    let mut big = b"POST /ext/big HTTP/1.1\r\nhost: x\r\ncontent-length: 4100\r\n\r\n".to_vec();
    big.resize(big.len() + 4100, b'x');
    tcp.write_all(&big).await.unwrap();
    let (status, _, body) = read_answer(&mut tcp, &mut buf).await;
    assert_eq!((status, json(&body)["error"].as_str()), (413, Some("Request body too large")));
    assert_eq!(fast_path_count().await, 5, "the body over the limit went to hyper");
}

/// An upstream that answers every request with the request's header lines
/// and body as JSON, its answer carrying hop-by-hop headers of its own
/// (`Connection` naming one) and an `x-request-id` the gateway must replace.
async fn header_echo_upstream() -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let mut slots = [httparse::EMPTY_HEADER; 64];
                    let mut r = httparse::Request::new(&mut slots);
                    let parsed = r.parse(&buf).unwrap();
                    let httparse::Status::Complete(head_len) = parsed else {
                        let mut chunk = [0u8; 4096];
                        match tcp.read(&mut chunk).await {
                            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                            _ => return,
                        }
                        continue;
                    };
                    let lines: Vec<(String, String)> = r
                        .headers
                        .iter()
                        .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).to_string()))
                        .collect();
                    let len: usize = lines
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                        .map_or(0, |(_, v)| v.parse().unwrap());
                    while buf.len() < head_len + len {
                        let mut chunk = [0u8; 4096];
                        let n = tcp.read(&mut chunk).await.unwrap();
                        assert!(n > 0);
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let body = String::from_utf8_lossy(&buf[head_len..head_len + len]).to_string();
                    buf.drain(..head_len + len);
                    let json = serde_json::json!({"lines": lines, "body": body}).to_string();
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: keep-alive, x-internal\r\n\
                         x-internal: secret\r\nkeep-alive: timeout=5\r\nx-upstream-end: 2\r\n\
                         x-request-id: upstream-made\r\ncontent-length: {}\r\n\r\n{json}",
                        json.len()
                    );
                    tcp.write_all(answer.as_bytes()).await.unwrap();
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn hop_by_hop_headers_stay_on_their_hop_and_the_gateway_sets_ids_trace_and_forwarding() {
    use tokio::io::AsyncWriteExt;
    let upstream = header_echo_upstream().await;
    let server = TestServer::start_with(|c| {
        let mut r: gateway::proxy::ProxyRouteConfig =
            serde_json::from_value(serde_json::json!({"prefix": "/echo", "upstream": [upstream.to_string()]})).unwrap();
        r.pool.health_path = "/".into();
        c.proxy = vec![r];
    })
    .await;
    let head = "POST /echo/x?y=1 HTTP/1.1\r\nhost: gw.example\r\nconnection: keep-alive, x-secret\r\nx-secret: 1\r\n\
                keep-alive: timeout=5\r\nte: trailers\r\nproxy-authorization: Basic Zm9v\r\nx-end: kept\r\n\
                x-request-id: rid-1\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\
                x-forwarded-for: 203.0.113.5\r\nx_forwarded_for: 6.6.6.6\r\nforwarded: for=6.6.6.6\r\nx-real-ip: 6.6.6.6\r\n";
    // The same request on the fast path (a length) and through hyper (chunks).
    let fast = format!("{head}content-length: 2\r\n\r\nhi");
    let hyper = format!("{head}transfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
    for (path, request) in [("fast path", fast), ("hyper", hyper)] {
        let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let mut buf = Vec::new();
        tcp.write_all(request.as_bytes()).await.unwrap();
        let (status, answer, body) = read_answer(&mut tcp, &mut buf).await;
        assert_eq!(status, 200, "{path}");
        let got = json(&body);
        assert_eq!(got["body"], "hi", "{path}");
        let sent: Vec<(String, String)> = serde_json::from_value(got["lines"].clone()).unwrap();
        let sent = |name: &str| -> Vec<String> {
            sent.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).collect()
        };
        // Hop-by-hop headers, names with `_`, and the forwarding headers of
        // a client that is not a trusted proxy.
        for gone in [
            "connection",
            "x-secret",
            "keep-alive",
            "te",
            "proxy-authorization",
            "transfer-encoding",
            "x_forwarded_for",
            "forwarded",
            "x-real-ip",
        ] {
            assert!(sent(gone).is_empty(), "{path}: {gone} reached the upstream: {:?}", got["lines"]);
        }
        assert_eq!(sent("x-end"), ["kept"], "{path}");
        assert_eq!(sent("host"), ["gw.example"], "{path}");
        assert_eq!(sent("content-length"), ["2"], "{path}");
        assert_eq!(sent("x-request-id"), ["rid-1"], "{path}");
        assert_eq!(sent("x-forwarded-for"), ["127.0.0.1"], "{path}: a client's own chain is not believed");
        // A child span of the client's trace: same trace id, new parent id.
        let trace = sent("traceparent");
        assert_eq!(trace.len(), 1, "{path}");
        assert!(trace[0].starts_with("00-0af7651916cd43dd8448eb211c80319c-"), "{path}: {trace:?}");
        assert!(!trace[0].contains("b7ad6b7169203331"), "{path}: {trace:?}");

        let answered =
            |name: &str| -> Vec<&str> { answer.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect() };
        assert_eq!(answered("x-upstream-end"), ["2"], "{path}: {answer:?}");
        assert_eq!(answered("x-request-id"), ["rid-1"], "{path}: {answer:?}");
        assert!(answered("x-internal").is_empty() && answered("keep-alive").is_empty(), "{path}: {answer:?}");
        assert!(answered("connection").iter().all(|v| !v.contains("x-internal")), "{path}: {answer:?}");
    }
}

/// An attack review found pass-through paths reaching outside their prefix
/// (`/ext/../internal/…`, encoded dots and slashes, backslashes) and any
/// `Upgrade` token spliced (`h2c` opened a tunnel to the upstream). Both
/// are refused, on the fast path and on hyper's.
#[tokio::test]
async fn pass_through_paths_stay_under_their_prefix_and_only_websocket_is_spliced() {
    use tokio::io::AsyncWriteExt;
    let (a, _a) = describing_upstream("a").await;
    let server = TestServer::start_with(|c| {
        let mut r: gateway::proxy::ProxyRouteConfig =
            serde_json::from_value(serde_json::json!({"prefix": "/ext", "upstream": [a.to_string()]})).unwrap();
        r.pool.health_path = "/".into();
        c.proxy = vec![r];
    })
    .await;
    let ask = |request: String| async move {
        let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let (status, _, body) = read_answer(&mut tcp, &mut buf).await;
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    for target in [
        "/ext/../internal/users/authenticate",
        "/ext/%2e%2e/internal/users/authenticate",
        "/ext/.%2E/internal/users/authenticate",
        "/ext/..%5cinternal/users/authenticate",
        "/ext/a%2f..%2f..%2finternal/users/authenticate",
        "/ext/./x",
    ] {
        for body in ["", "hello"] {
            // Without a body on the fast path, with one through hyper (chunked).
            let request = if body.is_empty() {
                format!("GET {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            } else {
                format!(
                    "POST {target} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\n{body}\r\n0\r\n\r\n"
                )
            };
            let (status, answer) = ask(request).await;
            assert!((400..500).contains(&status), "{target}: {status} {answer}");
            assert!(!answer.contains("\"upstream\""), "{target} reached the upstream: {answer}");
        }
    }
    // A clean path still goes through.
    let (status, answer) = ask("GET /ext/ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".into()).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"upstream\":\"a\""), "{answer}");
    // An upgrade to anything but WebSocket is forwarded as a plain request:
    // no 101, no tunnel, the `Upgrade` not passed on.
    let (status, answer) =
        ask("GET /ext/h2 HTTP/1.1\r\nhost: x\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\n\
         http2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
            .into())
        .await;
    assert_eq!(status, 200, "{answer}");
    let seen: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(seen["uri"], "/ext/h2");
    assert!(seen["upgrade"].is_null(), "{answer}");
}
