//! TLS termination at the gateway with a certificate generated for the
//! test: HTTP/2 and HTTP/1.1 negotiated by ALPN, the Mastodon API served
//! over both; plain HTTP/2 (prior knowledge) on a server without TLS.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use testkit::TestServer;

struct Cert {
    _dir: tempfile::TempDir,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    der: CertificateDer<'static>,
}

fn generate() -> Cert {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["aviary.test".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    Cert { _dir: dir, cert: c, key: k, der: cert.der().clone() }
}

/// Connects with TLS offering `alpn`; returns the stream and what was agreed.
async fn connect(
    addr: std::net::SocketAddr,
    trust: &CertificateDer<'static>,
    alpn: &[&[u8]],
) -> (tokio_rustls::client::TlsStream<tokio::net::TcpStream>, Option<Vec<u8>>) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trust.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("aviary.test").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("TLS handshake");
    let agreed = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    (tls, agreed)
}

fn get(path: &str) -> http::Request<Empty<Bytes>> {
    http::Request::get(path).header("host", "aviary.test").body(Empty::new()).unwrap()
}

async fn instance_title(resp: http::Response<hyper::body::Incoming>) -> String {
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["title"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_gateway_terminates_tls_with_http2_and_http1() {
    let cert = generate();
    let server = TestServer::start_with(|c| {
        c.http.tls_cert = Some(cert.cert.clone());
        c.http.tls_key = Some(cert.key.clone());
    })
    .await;

    let (tls, agreed) = connect(server.addr, &cert.der, &[b"h2", b"http/1.1"]).await;
    assert_eq!(agreed.as_deref(), Some(&b"h2"[..]), "HTTP/2 offered first and not chosen");
    let (mut h2, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    // Several streams on the one connection, concurrently.
    let answers =
        futures::future::join_all((0..5).map(|_| h2.send_request(get("https://aviary.test/api/v1/instance")))).await;
    for resp in answers {
        let resp = resp.unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert_eq!(instance_title(resp).await, "Aviary");
    }

    let (tls, agreed) = connect(server.addr, &cert.der, &[b"http/1.1"]).await;
    assert_eq!(agreed.as_deref(), Some(&b"http/1.1"[..]));
    let (mut h1, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let resp = h1.send_request(get("/api/v1/instance")).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_11);
    assert_eq!(instance_title(resp).await, "Aviary");

    // Plain HTTP on a TLS port is refused, not served.
    let mut plain = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    plain.write_all(b"GET /api/v1/instance HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("Aviary"), "served plain HTTP on the TLS port");
}

#[tokio::test]
async fn plain_http_serves_http2_with_prior_knowledge() {
    let server = TestServer::start().await;
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut h2, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    let resp = h2.send_request(get("http://aviary.test/api/v1/instance")).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(instance_title(resp).await, "Aviary");
}

#[tokio::test]
async fn a_bad_certificate_file_stops_start_up_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&c, "not a certificate").unwrap();
    std::fs::write(&k, "not a key").unwrap();
    let mut config = aviary::config::Config { listen: "127.0.0.1:0".parse().unwrap(), ..Default::default() };
    config.data_dir = dir.path().join("data");
    config.http.tls_cert = Some(c);
    config.http.tls_key = Some(k);
    let err = aviary::App::build(&config, &aviary::targets::Targets::all()).await.err().expect("refused");
    assert!(format!("{err:#}").contains("tls"), "{err:#}");
}
