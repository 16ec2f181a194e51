//! The media driver: opens each call's relay sockets on the ports the engine chose, runs one
//! relay task per call, and keeps the engine-wide counters.

use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;

use callrec_media::relay::{CallRelay, PortPair, RelayConfig};
use callrec_media::{Counters, CountersSnapshot};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::call::CallMedia;
use super::config::MediaDriverConfig;
use super::error::MediaError;
use super::recording::RecorderPool;
use super::relay_task::{LegSockets, RelayTask};

/// The media driver. Cheap to clone; every clone shares the counters.
#[derive(Debug, Clone)]
pub struct MediaDriver {
    config: MediaDriverConfig,
    counters: Arc<Counters>,
    recorders: Arc<RecorderPool>,
}

/// Binds a UDP socket for tokio without waiting: `bind` on a local address is one system call
/// that does not block, so no runtime thread is held up.
fn bind(addr: SocketAddr) -> Result<UdpSocket, MediaError> {
    let bind_error = |source| MediaError::Bind {
        port: addr.port(),
        source,
    };
    let socket = StdUdpSocket::bind(addr).map_err(bind_error)?;
    socket.set_nonblocking(true).map_err(bind_error)?;
    UdpSocket::from_std(socket).map_err(bind_error)
}

impl MediaDriver {
    /// A driver with these settings; starts its recorder threads (one per core).
    pub fn new(config: MediaDriverConfig) -> Self {
        MediaDriver {
            recorders: Arc::new(RecorderPool::new(
                config.flush_interval,
                config.fsync_interval,
            )),
            config,
            counters: Arc::new(Counters::default()),
        }
    }

    /// The driver's settings.
    pub fn config(&self) -> &MediaDriverConfig {
        &self.config
    }

    /// Packets relayed and dropped (by reason) and recorder frames dropped, over all calls.
    pub fn counters(&self) -> CountersSnapshot {
        self.counters.snapshot()
    }

    /// Binds a port pair (RTP and RTCP) on the relay address, for a later
    /// [`open_call`](Self::open_call). Must be called within the tokio runtime; it does not
    /// wait. Fails when another program holds either port.
    pub fn bind_pair(&self, pair: PortPair) -> Result<BoundPair, MediaError> {
        let ip = self.config.relay_ip;
        Ok(BoundPair(LegSockets {
            rtp: bind(SocketAddr::new(ip, pair.rtp))?,
            rtcp: bind(SocketAddr::new(ip, pair.rtcp()))?,
        }))
    }

    /// Opens a call's media on bound pairs (leg A's, leg B's) and starts its relay task.
    /// Closing the returned handle ends the task and closes the sockets.
    pub fn open_call(&self, name: &str, pairs: [BoundPair; 2]) -> CallMedia {
        let [BoundPair(sockets_a), BoundPair(sockets_b)] = pairs;
        let ports = [
            sockets_a.rtp.local_addr().map(|a| a.port()).unwrap_or(0),
            sockets_b.rtp.local_addr().map(|a| a.port()).unwrap_or(0),
        ];
        let now = tokio::time::Instant::now().into_std();
        let mut relay = CallRelay::new(
            now,
            RelayConfig {
                media_timeout: self.config.media_timeout,
                hold_timeout: self.config.hold_timeout,
            },
            Arc::clone(&self.counters),
        );
        // No media is expected while the call rings; armed once both legs have SDP.
        relay.set_timeout_armed(now, false);
        let (command_tx, command_rx) = mpsc::unbounded_channel();
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let task = RelayTask::new([sockets_a, sockets_b], relay, command_rx, event_tx);
        let span = tracing::debug_span!("media", call = name);
        let join = tokio::spawn(task.run().instrument(span));
        tracing::debug!(call = name, a = ports[0], b = ports[1], "media opened");
        CallMedia::new(
            self.config.recorder_queue,
            Arc::clone(&self.counters),
            Arc::clone(&self.recorders),
            command_tx,
            event_rx,
            join,
        )
    }
}

/// A port pair's RTP and RTCP sockets, bound and not yet used by a call.
#[derive(Debug)]
pub struct BoundPair(LegSockets);
