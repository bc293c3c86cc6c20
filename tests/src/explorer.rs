//! Running `release serve` and talking to it over plain HTTP/1.0 (tests and benchmarks).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::coordinator_command;

/// A running `release serve` (listening on a free loopback port), stopped (by its own pid) when dropped.
pub struct Server {
    child: Child,
    pub address: String,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// The server process's pid (for its peak memory in /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `release serve ARGS --store STORE --listen 127.0.0.1:0 --cache-dir CACHE` and waits
/// (bounded) for its address; on failure, its standard error.
pub fn serve(store: &Path, cache: &Path, args: &[&str], token: Option<&str>) -> Result<Server, String> {
    serve_from(store.to_str().expect("a UTF-8 path"), cache, args, token, |_| {})
}

/// [`serve`] from a store URI (`s3://...`), with `configure` adding to the command (an S3
/// endpoint's environment).
pub fn serve_from(
    store: &str,
    cache: &Path,
    args: &[&str],
    token: Option<&str>,
    configure: impl FnOnce(&mut Command),
) -> Result<Server, String> {
    let mut command = coordinator_command();
    configure(&mut command);
    command
        .args(["release", "serve"])
        .args(args)
        .args(["--store", store, "--listen", "127.0.0.1:0"])
        .arg("--cache-dir")
        .arg(cache)
        .env_remove("WILDCHAT_EXPLORER_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(token) = token {
        command.env("WILDCHAT_EXPLORER_TOKEN", token);
    }
    let mut child = command.spawn().expect("starting release serve");
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let pipe = child.stderr.take().unwrap();
    let sink = stderr.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut text = sink.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    let (sender, receiver) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let line = receiver.recv_timeout(Duration::from_secs(300));
    let mut server = Server {
        child,
        address: String::new(),
        stderr,
    };
    match line {
        Ok(line) => {
            let address = line
                .split("http://")
                .nth(1)
                .and_then(|rest| rest.strip_suffix('/'))
                .ok_or_else(|| format!("unexpected first line {line:?}"))?;
            server.address = address.to_string();
            Ok(server)
        }
        Err(_) => {
            let _ = server.child.wait();
            std::thread::sleep(Duration::from_millis(200));
            Err(server.stderr.lock().unwrap().clone())
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

pub fn request(server: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut stream = TcpStream::connect(&server.address).expect("connecting to the explorer");
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut text = format!("{method} {path} HTTP/1.0\r\nHost: {}\r\n", server.address);
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(text.as_bytes()).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let reply = String::from_utf8(reply).expect("a UTF-8 reply");
    let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// A GET that must answer 200.
pub fn get(server: &Server, path: &str) -> Reply {
    let reply = request(server, "GET", path, &[], "");
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
    reply
}

/// A count a page shows as `id="ID" data-count="N"`.
pub fn count(page: &str, id: &str) -> u64 {
    let marker = format!("id=\"{id}\" data-count=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id} count in the page"))
        + marker.len();
    page[start..].split('"').next().unwrap().parse().unwrap()
}

/// The conversation hashes a result page lists (its basket checkboxes).
pub fn listed_hashes(page: &str) -> BTreeSet<String> {
    page.split("class=\"basket\" data-hash=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}
