//! TCP: accepting connections, one task per connection (framing, CRLF keep-alive, idle
//! timeout, writes from its queue), and outbound connections opened on first send.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use callrec_sip::message::{error_response, frame_stream, StreamFrame};
use callrec_sip::transaction::{Peer, Transmit, Transport as Proto};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tracing::debug;

use super::counters::Counters;
use super::{ConnHandle, Incoming, Shared};
use callrec_sip::message::inbound::{canonical, decode, Decoded};

/// Accepts connections until shutdown.
pub(crate) async fn run_listener(shared: Arc<Shared>, listener: TcpListener) {
    let mut stop = shared.shutdown.clone();
    loop {
        let (stream, addr) = tokio::select! {
            _ = stop.changed() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    debug!(error = %e, "TCP accept failed");
                    // Out of descriptors and the like: do not spin.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let addr = canonical(addr);
        let Some((handle, rx)) = register(&shared, addr) else {
            Counters::inc(&shared.counters.tcp_refused);
            continue;
        };
        Counters::inc(&shared.counters.tcp_accepted);
        shared
            .runtime
            .spawn(run_connection(shared.clone(), stream, addr, rx, handle.id));
    }
}

/// Puts a new writer queue for `addr` in the map (replacing a dead one). `None` when the
/// connection limit is reached.
fn register(shared: &Shared, addr: SocketAddr) -> Option<(ConnHandle, mpsc::Receiver<Transmit>)> {
    let mut conns = shared.conns.lock().ok()?;
    if conns.len() >= shared.options.max_tcp_connections && !conns.contains_key(&addr) {
        return None;
    }
    let (tx, rx) = mpsc::channel(shared.options.tcp_queue.max(1));
    let handle = ConnHandle {
        id: shared.next_conn.fetch_add(1, Ordering::Relaxed),
        tx,
    };
    conns.insert(addr, handle.clone());
    Some((handle, rx))
}

/// Removes `addr` from the map if it is still connection `id`.
fn unregister(shared: &Shared, addr: SocketAddr, id: u64) {
    if let Ok(mut conns) = shared.conns.lock() {
        if conns.get(&addr).is_some_and(|h| h.id == id) {
            conns.remove(&addr);
        }
    }
}

/// Queues `t` on the peer's connection, opening one if there is none. Never waits.
pub(crate) fn send(shared: &Arc<Shared>, t: Transmit) {
    let addr = canonical(t.to.addr);
    let existing = shared.conns.lock().ok().and_then(|c| c.get(&addr).cloned());
    let t = match existing {
        Some(h) => match h.tx.try_send(t) {
            Ok(()) => {
                Counters::inc(&shared.counters.sent);
                return;
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                Counters::inc(&shared.counters.send_dropped);
                debug!(to = %addr, "TCP connection queue full: transmit dropped");
                return;
            }
            Err(mpsc::error::TrySendError::Closed(t)) => {
                unregister(shared, addr, h.id);
                t
            }
        },
        None => t,
    };
    let Some((handle, rx)) = register(shared, addr) else {
        Counters::inc(&shared.counters.send_dropped);
        debug!(to = %addr, "TCP connection limit reached: transmit dropped");
        return;
    };
    if handle.tx.try_send(t).is_ok() {
        Counters::inc(&shared.counters.sent);
    } else {
        Counters::inc(&shared.counters.send_dropped);
    }
    shared
        .runtime
        .spawn(connect_and_run(shared.clone(), addr, rx, handle.id));
}

/// Opens an outbound connection to `addr`, then runs it; on failure drops what was queued.
async fn connect_and_run(
    shared: Arc<Shared>,
    addr: SocketAddr,
    mut rx: mpsc::Receiver<Transmit>,
    id: u64,
) {
    match timeout(shared.options.connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            Counters::inc(&shared.counters.tcp_connected);
            run_connection(shared, stream, addr, rx, id).await;
        }
        result => {
            Counters::inc(&shared.counters.tcp_connect_failed);
            debug!(to = %addr, failed = ?result.err(), "TCP connect failed");
            unregister(&shared, addr, id);
            let _ = shared.failures.try_send(Peer {
                transport: Proto::Tcp,
                addr,
            });
            rx.close();
            while rx.try_recv().is_ok() {
                Counters::inc(&shared.counters.send_dropped);
            }
        }
    }
}

/// Why a connection ended (for the counters).
enum Close {
    /// Peer closed, read error, or shutdown.
    Normal,
    /// Nothing read or written for the idle timeout.
    Idle,
    /// The stream could not be framed, or a write failed or stalled.
    Broken,
}

/// Reads, frames and writes one connection until it closes.
async fn run_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    addr: SocketAddr,
    mut rx: mpsc::Receiver<Transmit>,
    id: u64,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut conn = Conn {
        buf: Vec::with_capacity(4096),
        crlf_run: 0,
        peer: Peer {
            transport: Proto::Tcp,
            addr,
        },
    };
    let mut chunk = vec![0u8; 16 * 1024];
    let mut stop = shared.shutdown.clone();
    let idle = shared.options.tcp_idle_timeout;
    let close = loop {
        tokio::select! {
            _ = stop.changed() => break Close::Normal,
            r = rd.read(&mut chunk) => match r {
                Ok(0) | Err(_) => break Close::Normal,
                Ok(n) => {
                    conn.buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                    if let Err(c) = conn.drain(&shared, &mut wr).await {
                        break c;
                    }
                }
            },
            t = rx.recv() => match t {
                Some(t) => {
                    if let Err(c) = write(&shared, &mut wr, &t.payload).await {
                        break c;
                    }
                }
                None => break Close::Normal,
            },
            _ = tokio::time::sleep(idle) => break Close::Idle,
        }
    };
    match close {
        Close::Idle => Counters::inc(&shared.counters.tcp_idle_closed),
        Close::Broken => Counters::inc(&shared.counters.tcp_framing_closed),
        Close::Normal => {}
    }
    unregister(&shared, addr, id);
    let _ = wr.shutdown().await;
}

/// Writes all of `bytes` within the write timeout.
async fn write(shared: &Shared, wr: &mut OwnedWriteHalf, bytes: &[u8]) -> Result<(), Close> {
    match timeout(shared.options.write_timeout, wr.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(Close::Broken),
    }
}

/// The receive side of one connection.
struct Conn {
    buf: Vec<u8>,
    /// CR/LF octets seen in a row between messages (a ping is four: CRLF CRLF).
    crlf_run: usize,
    peer: Peer,
}

impl Conn {
    /// Takes every complete message and keep-alive off the front of the buffer.
    async fn drain(&mut self, shared: &Shared, wr: &mut OwnedWriteHalf) -> Result<(), Close> {
        loop {
            match frame_stream(&self.buf) {
                Ok(StreamFrame::NeedMore) => return Ok(()),
                Ok(StreamFrame::KeepAlive(n)) => {
                    let n = n.min(self.buf.len());
                    self.buf.drain(..n);
                    self.crlf_run += n;
                    while self.crlf_run >= 4 {
                        self.crlf_run -= 4;
                        Counters::inc(&shared.counters.keepalives);
                        write(shared, wr, b"\r\n").await?;
                    }
                }
                Ok(StreamFrame::Complete(n)) => {
                    self.crlf_run = 0;
                    let n = n.min(self.buf.len());
                    let msg: Vec<u8> = self.buf.drain(..n).collect();
                    Counters::inc(&shared.counters.tcp_received);
                    match decode(&msg, self.peer.addr) {
                        Decoded::Message(msg) => {
                            let inc = Incoming {
                                from: self.peer,
                                msg,
                            };
                            if shared.incoming.send(inc).await.is_err() {
                                return Err(Close::Normal);
                            }
                        }
                        Decoded::Invalid { error, reply } => {
                            Counters::inc(&shared.counters.parse_errors);
                            debug!(%error, "unparseable TCP message dropped");
                            if let Some(reply) = reply {
                                Counters::inc(&shared.counters.error_replies);
                                write(shared, wr, &reply.to_bytes()).await?;
                            }
                        }
                    }
                }
                Err(error) => {
                    Counters::inc(&shared.counters.parse_errors);
                    debug!(%error, "TCP stream cannot be framed: closing");
                    if let Some(reply) = error_response(&self.buf, &error) {
                        Counters::inc(&shared.counters.error_replies);
                        let _ = write(shared, wr, &reply.to_bytes()).await;
                    }
                    return Err(Close::Broken);
                }
            }
        }
    }
}
