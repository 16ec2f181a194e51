//! The media driver: opens each call's relay sockets on the ports the engine chose, hands each
//! call to one of a few relay shards (threads that each relay many calls), and keeps the
//! engine-wide counters.

use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;

use callrec_media::relay::{CallRelay, PortPair, RelayConfig};
use callrec_media::{Counters, CountersSnapshot};
use tokio::sync::{mpsc, Notify};

use super::call::CallMedia;
use super::config::MediaDriverConfig;
use super::error::MediaError;
use super::recording::RecorderPool;
use super::relay_task::RelayCall;
use super::shard::RelayShards;

/// The media driver. Cheap to clone; every clone shares the counters.
#[derive(Debug, Clone)]
pub struct MediaDriver {
    config: MediaDriverConfig,
    counters: Arc<Counters>,
    recorders: Arc<RecorderPool>,
    shards: Arc<RelayShards>,
    /// Signalled by a relay after it queues an event on a call's channel, so the engine side
    /// looks at its calls' channels only when one has something (rather than every call's
    /// channel on a timer: 10,000 empty looks a second at 1000 calls).
    events_waiting: Arc<Notify>,
}

/// Binds a non-blocking UDP socket: `bind` on a local address is one system call that does not
/// block, so the caller is not held up.
fn bind(addr: SocketAddr) -> Result<StdUdpSocket, MediaError> {
    let bind_error = |source| MediaError::Bind {
        port: addr.port(),
        source,
    };
    let socket = StdUdpSocket::bind(addr).map_err(bind_error)?;
    socket.set_nonblocking(true).map_err(bind_error)?;
    Ok(socket)
}

impl MediaDriver {
    /// A driver with these settings; starts its recorder threads and its relay shards (one
    /// per core each, unless `relay_threads` says otherwise).
    pub fn new(config: MediaDriverConfig) -> Self {
        let counters = Arc::new(Counters::default());
        MediaDriver {
            shards: Arc::new(RelayShards::new(config.relay_threads)),
            recorders: Arc::new(RecorderPool::new(
                config.flush_interval,
                config.fsync_interval,
                config.recorder_queue,
                Arc::clone(&counters),
            )),
            config,
            counters,
            events_waiting: Arc::new(Notify::new()),
        }
    }

    /// Completes when some call's media has an event waiting ([`CallMedia::try_event`]) that
    /// came after the last completion (a signal given while nobody waits is kept for the
    /// next wait).
    pub async fn events_waiting(&self) {
        self.events_waiting.notified().await;
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
    /// [`open_call`](Self::open_call). It does not wait. Fails when another program holds
    /// either port.
    pub fn bind_pair(&self, pair: PortPair) -> Result<BoundPair, MediaError> {
        let ip = self.config.relay_ip;
        Ok(BoundPair {
            rtp: bind(SocketAddr::new(ip, pair.rtp))?,
            rtcp: bind(SocketAddr::new(ip, pair.rtcp()))?,
        })
    }

    /// Opens a call's media on bound pairs (leg A's, leg B's) and hands it to the least loaded
    /// relay shard. Closing (or dropping) the returned handle ends its relay and closes the
    /// sockets.
    pub fn open_call(&self, name: &str, pairs: [BoundPair; 2]) -> CallMedia {
        let [a, b] = pairs;
        let ports = [
            a.rtp.local_addr().map(|a| a.port()).unwrap_or(0),
            b.rtp.local_addr().map(|a| a.port()).unwrap_or(0),
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
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let sockets = [a.rtp, a.rtcp, b.rtp, b.rtcp].map(mio::net::UdpSocket::from_std);
        let span = tracing::debug_span!("media", call = name);
        let call = RelayCall::new(
            sockets,
            relay,
            event_tx,
            Arc::clone(&self.events_waiting),
            span,
        );
        let link = self.shards.open(call);
        tracing::debug!(call = name, a = ports[0], b = ports[1], "media opened");
        CallMedia::new(Arc::clone(&self.recorders), link, event_rx)
    }

    /// The recorder pool (tests start recordings on it directly).
    #[cfg(test)]
    pub(crate) fn recorders(&self) -> &RecorderPool {
        &self.recorders
    }

    /// The relay shards (tests look at their number).
    #[cfg(test)]
    pub(crate) fn shards(&self) -> &RelayShards {
        &self.shards
    }
}

/// A port pair's RTP and RTCP sockets, bound (non-blocking) and not yet used by a call.
#[derive(Debug)]
pub struct BoundPair {
    rtp: StdUdpSocket,
    rtcp: StdUdpSocket,
}
