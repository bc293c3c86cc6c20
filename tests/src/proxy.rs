//! A TCP proxy on a loopback port that breaks connections on purpose: it drops some of them
//! part-way through the server's answer and delays others before passing the request on. Put
//! between workers and the S3 server, it shows that lost and slow connections change nothing
//! in a release. Every thread it starts ends when the proxy is dropped.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rand::{Rng, SeedableRng};

/// What the proxy does to each new connection.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    /// Share of connections cut after a random part (up to 16 KiB) of the server's answer.
    pub drop: f64,
    /// Share of connections whose first request waits `delay` before it is passed on.
    pub delay_share: f64,
    pub delay: Duration,
    pub seed: u64,
}

#[derive(Debug, Default)]
pub struct ProxyStats {
    pub connections: AtomicU64,
    pub dropped: AtomicU64,
    pub delayed: AtomicU64,
}

pub struct FaultProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: Option<JoinHandle<()>>,
    pub stats: Arc<ProxyStats>,
}

/// How long blocked reads wait before they look at the stop flag again.
const POLL: Duration = Duration::from_millis(100);

impl FaultProxy {
    pub fn start(target: SocketAddr, faults: Faults) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let port = listener.local_addr().expect("the proxy address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(ProxyStats::default());
        let threads: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (stop, stats, threads) = (stop.clone(), stats.clone(), threads.clone());
            std::thread::spawn(move || {
                let mut random = rand::rngs::StdRng::seed_from_u64(faults.seed);
                while !stop.load(Ordering::Relaxed) {
                    let client = match listener.accept() {
                        Ok((client, _)) => client,
                        Err(error) if error.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(10));
                            continue;
                        }
                        Err(_) => continue,
                    };
                    stats.connections.fetch_add(1, Ordering::Relaxed);
                    let Ok(server) = TcpStream::connect(target) else {
                        continue;
                    };
                    let cut_after = random
                        .random_bool(faults.drop)
                        .then(|| random.random_range(0..16 * 1024usize));
                    let delay = random.random_bool(faults.delay_share).then_some(faults.delay);
                    if delay.is_some() {
                        stats.delayed.fetch_add(1, Ordering::Relaxed);
                    }
                    let mut handles = threads.lock().expect("the thread list");
                    handles.retain(|handle| !handle.is_finished());
                    handles.extend(connect_pair(client, server, cut_after, delay, &stop, &stats));
                }
            })
        };
        FaultProxy {
            port,
            stop,
            threads,
            accept: Some(accept),
            stats,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }

    pub fn delayed(&self) -> u64 {
        self.stats.delayed.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let handles = std::mem::take(&mut *self.threads.lock().expect("the thread list"));
        for handle in handles {
            let _ = handle.join();
        }
    }
}

/// Two threads: client → server (after the optional delay) and server → client (cut after
/// `cut_after` bytes when set, which closes both sides).
fn connect_pair(
    client: TcpStream,
    server: TcpStream,
    cut_after: Option<usize>,
    delay: Option<Duration>,
    stop: &Arc<AtomicBool>,
    stats: &Arc<ProxyStats>,
) -> Vec<JoinHandle<()>> {
    let streams = (client.try_clone(), server.try_clone());
    let (Ok(client_read), Ok(server_read)) = streams else {
        return Vec::new();
    };
    let _ = client.set_nonblocking(false);
    let _ = server.set_nonblocking(false);
    let upstream = {
        let stop = stop.clone();
        let server_write = server;
        std::thread::spawn(move || {
            if let Some(delay) = delay {
                std::thread::sleep(delay);
            }
            pump(client_read, server_write, None, &stop);
        })
    };
    let downstream = {
        let (stop, stats) = (stop.clone(), stats.clone());
        let client_write = client;
        std::thread::spawn(move || {
            if pump(server_read, client_write, cut_after, &stop) {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    vec![upstream, downstream]
}

/// Copies `from` to `to` until either side closes, the proxy stops, or `cut_after` bytes have
/// passed; returns whether the connection was cut on purpose. Both sockets are shut down at the end.
fn pump(mut from: TcpStream, mut to: TcpStream, cut_after: Option<usize>, stop: &AtomicBool) -> bool {
    let _ = from.set_read_timeout(Some(POLL));
    let mut buffer = vec![0u8; 8192];
    let mut passed = 0usize;
    let mut cut = false;
    while !stop.load(Ordering::Relaxed) {
        let read = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        };
        let allowed = match cut_after {
            Some(limit) => read.min(limit.saturating_sub(passed)),
            None => read,
        };
        if allowed > 0 && to.write_all(&buffer[..allowed]).is_err() {
            break;
        }
        passed += allowed;
        if allowed < read {
            cut = true;
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
    cut
}
