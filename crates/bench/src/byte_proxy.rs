//! The floor for a proxy on this runtime without an HTTP library's
//! machinery: one task per client connection parses each request head with
//! httparse, copies it to a kept upstream connection, reads the answer
//! (`Content-Length` framing only) and copies it back — nothing else: no
//! header handling, limits, ids, metrics or health. `scripts/bench-gateway`
//! measures it beside nginx, the bare hyper proxy and the gateway, to show
//! what the machine allows a proxy on tokio and what the gateway's own work
//! per request costs.

use bytes::{Buf, BytesMut};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Upstream {
    addr: String,
    idle: Mutex<Vec<TcpStream>>,
}

impl Upstream {
    async fn conn(&self) -> std::io::Result<TcpStream> {
        if let Some(c) = self.idle.lock().unwrap().pop() {
            return Ok(c);
        }
        let c = TcpStream::connect(&self.addr).await?;
        c.set_nodelay(true)?;
        Ok(c)
    }
    fn put(&self, c: TcpStream) {
        self.idle.lock().unwrap().push(c);
    }
}

/// Reads one answer (Content-Length framing only) into `buf`; returns
/// (head length, total length, status).
async fn read_response(c: &mut TcpStream, buf: &mut BytesMut) -> std::io::Result<(usize, usize, u16)> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(n) = r.parse(buf).map_err(std::io::Error::other)? {
            let cl = r
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse::<usize>().ok())
                .ok_or_else(|| std::io::Error::other("no content-length"))?;
            let code = r.code.unwrap_or(502);
            while buf.len() < n + cl {
                if c.read_buf(buf).await? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
            }
            return Ok((n, n + cl, code));
        }
        if c.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

pub async fn run(listen: &str, upstream: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let up = Arc::new(Upstream { addr: upstream.to_string(), idle: Mutex::new(Vec::new()) });
    eprintln!("byte-level proxy on {listen} → {upstream}");
    loop {
        let (stream, peer) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let up = up.clone();
        tokio::spawn(async move {
            let _ = raw_conn(stream, peer, up).await;
        });
    }
}

async fn raw_conn(mut client: TcpStream, peer: std::net::SocketAddr, up: Arc<Upstream>) -> std::io::Result<()> {
    let mut inbuf = BytesMut::with_capacity(4096);
    let mut upbuf = BytesMut::with_capacity(8192);
    let mut out = Vec::with_capacity(1024);
    loop {
        let n = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut r = httparse::Request::new(&mut headers);
            if let httparse::Status::Complete(n) = r.parse(&inbuf).map_err(std::io::Error::other)? {
                out.clear();
                out.extend_from_slice(r.method.unwrap_or("GET").as_bytes());
                out.push(b' ');
                out.extend_from_slice(r.path.unwrap_or("/").as_bytes());
                out.extend_from_slice(b" HTTP/1.1\r\n");
                for h in r.headers.iter() {
                    out.extend_from_slice(h.name.as_bytes());
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(h.value);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(format!("x-forwarded-for: {}\r\n\r\n", peer.ip()).as_bytes());
                break n;
            }
            if client.read_buf(&mut inbuf).await? == 0 {
                return Ok(());
            }
        };
        inbuf.advance(n);
        let mut c = up.conn().await?;
        c.write_all(&out).await?;
        upbuf.clear();
        let (_, total, _) = read_response(&mut c, &mut upbuf).await?;
        client.write_all(&upbuf[..total]).await?;
        up.put(c);
    }
}
