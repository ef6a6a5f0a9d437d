//! Headless Chromium driven over the DevTools protocol, for the browser tests that click
//! and wait: one page, JavaScript evaluated in it (`Runtime.evaluate`), over a WebSocket
//! of JSON messages spoken here with the standard library (a masked text frame out,
//! unmasked frames in). Nothing is mocked: the page is the dashboard's, served by a real
//! runtime, run by the real browser.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A headless Chromium with one page, killed (and its profile removed) when dropped.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    /// The page's WebSocket, once open.
    ws: Option<TcpStream>,
    next_id: u64,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    /// Starts Chromium (`chromium` on the PATH) and connects to its first page.
    pub fn launch() -> Browser {
        static N: AtomicUsize = AtomicUsize::new(0);
        let profile = std::env::temp_dir().join(format!(
            "ray-cdp-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        let child = Command::new("chromium")
            .args(super::CHROMIUM_FLAGS)
            .args(["--window-size=1280,1000", "--remote-debugging-port=0"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run chromium ({e}): install it with `apt-get install -y chromium`")
            });
        let mut browser = Browser {
            child,
            profile,
            ws: None,
            next_id: 0,
        };
        let port = browser.devtools_port();
        let page = page_target(port);
        browser.ws = Some(websocket(port, &page));
        browser
    }

    /// The port Chromium's DevTools listen on (it writes it into the profile).
    fn devtools_port(&mut self) -> u16 {
        let file = self.profile.join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(port) = std::fs::read_to_string(&file)
                .ok()
                .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
            {
                return port;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("chromium exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "chromium's DevTools never started"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Calls DevTools method `method`: its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({ "id": id, "method": method, "params": params }).to_string();
        let ws = self.ws.as_mut().expect("the page's WebSocket");
        send(ws, msg.as_bytes());
        loop {
            let reply: Value = serde_json::from_slice(&receive(ws))
                .unwrap_or_else(|e| panic!("DevTools sent something not JSON: {e}"));
            if reply["id"] == id {
                assert!(reply["error"].is_null(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// Opens `url` in the page, and waits until its document is parsed.
    pub fn goto(&mut self, url: &str) {
        let r = self.call("Page.navigate", json!({ "url": url }));
        assert!(r["errorText"].is_null(), "navigate to {url}: {r}");
        let loaded = format!(
            "location.href.startsWith({}) && document.readyState !== 'loading'",
            Value::from(url)
        );
        assert!(
            self.wait_for(&loaded, Duration::from_secs(30)),
            "{url} never loaded"
        );
    }

    /// Evaluates `expression` in the page (awaiting a promise): its value as JSON.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        assert!(
            r["exceptionDetails"].is_null(),
            "`{expression}` threw: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Whether `expression` becomes `true` in the page within `timeout` (polled; while
    /// it throws, it is not true).
    pub fn wait_for(&mut self, expression: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let guarded = format!(
            "(() => {{ try {{ return ({expression}); }} catch (e) {{ return false; }} }})()"
        );
        loop {
            if self.eval(&guarded) == Value::Bool(true) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The WebSocket path of Chromium's first page (`/json/list`).
fn page_target(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = get(port, "/json/list");
        let targets: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let page = targets.as_array().into_iter().flatten().find_map(|t| {
            (t["type"] == "page")
                .then(|| t["webSocketDebuggerUrl"].as_str())
                .flatten()
        });
        if let Some(url) = page {
            let path = url.splitn(4, '/').nth(3).unwrap_or_default();
            return format!("/{path}");
        }
        assert!(Instant::now() < deadline, "chromium opened no page: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The body of `GET path` from the DevTools port (read up to its `Content-Length`: the
/// server keeps the connection open).
fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to DevTools");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").expect("send");
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).unwrap_or(0);
        raw.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if body.len() >= len || n == 0 {
                return body.to_string();
            }
        }
        if n == 0 {
            return String::new();
        }
    }
}

/// Opens the WebSocket at `path` on the DevTools port.
fn websocket(port: u16, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to DevTools");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("a read timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .expect("send the upgrade");
    // The answer's head, byte by byte: the frames that follow stay in the socket.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).expect("the upgrade's answer");
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

/// Sends `payload` as one masked text frame.
fn send(s: &mut TcpStream, payload: &[u8]) {
    let mut frame = vec![0x81u8];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n < 1 << 16 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame).expect("send to DevTools");
}

/// The next whole message (text frames and their continuations; pings answered).
fn receive(s: &mut TcpStream) -> Vec<u8> {
    let mut message = Vec::new();
    loop {
        let mut head = [0u8; 2];
        s.read_exact(&mut head).expect("a frame from DevTools");
        let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
        let len = match head[1] & 0x7f {
            126 => {
                let mut n = [0u8; 2];
                s.read_exact(&mut n).expect("a length");
                u64::from(u16::from_be_bytes(n))
            }
            127 => {
                let mut n = [0u8; 8];
                s.read_exact(&mut n).expect("a length");
                u64::from_be_bytes(n)
            }
            n => u64::from(n),
        };
        let mut mask = [0u8; 4];
        if head[1] & 0x80 != 0 {
            s.read_exact(&mut mask).expect("a mask");
        }
        let mut payload = vec![0u8; len as usize];
        s.read_exact(&mut payload).expect("a payload");
        payload
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b ^= mask[i % 4]);
        match opcode {
            0x8 => panic!("DevTools closed the connection"),
            0x9 => {
                let mut pong = vec![0x8a, 0x80 | payload.len() as u8, 0, 0, 0, 0];
                pong.extend_from_slice(&payload);
                s.write_all(&pong).expect("a pong");
                continue;
            }
            0xa => continue,
            _ => message.extend_from_slice(&payload),
        }
        if fin {
            return message;
        }
    }
}
