//! The media engine: the relay port pool, engine-wide counters, and opening calls.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use callrec_media::relay::{CallRelay, Leg, PortPair, PortPool, PortPoolError, RelayConfig};
use callrec_media::{Counters, CountersSnapshot};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::call::CallMedia;
use super::config::MediaEngineConfig;
use super::error::MediaError;
use super::relay_task::{LegSockets, RelayTask};

/// How many port pairs `open_call` tries per leg when binding fails (a port taken by another
/// program).
const BIND_ATTEMPTS: usize = 8;

/// The media engine. Cheap to clone; every clone shares the pool and counters.
#[derive(Debug, Clone)]
pub struct MediaEngine {
    config: MediaEngineConfig,
    pool: Arc<Mutex<PortPool>>,
    counters: Arc<Counters>,
}

/// Returns port pairs to the pool when dropped (after the sockets are closed).
#[derive(Debug)]
pub(crate) struct PortLease {
    pool: Arc<Mutex<PortPool>>,
    pairs: Vec<PortPair>,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        if let Ok(mut pool) = self.pool.lock() {
            for pair in self.pairs.drain(..) {
                pool.release(pair);
            }
        }
    }
}

impl MediaEngine {
    /// An engine over `config.port_min..=config.port_max`.
    pub fn new(config: MediaEngineConfig) -> Result<Self, MediaError> {
        let pool = PortPool::new(config.port_min, config.port_max)?;
        Ok(MediaEngine {
            config,
            pool: Arc::new(Mutex::new(pool)),
            counters: Arc::new(Counters::default()),
        })
    }

    /// The engine's settings.
    pub fn config(&self) -> &MediaEngineConfig {
        &self.config
    }

    /// Packets relayed and dropped (by reason) and recorder frames dropped, over all calls.
    pub fn counters(&self) -> CountersSnapshot {
        self.counters.snapshot()
    }

    /// Port pairs currently allocated (two per open call).
    pub fn ports_in_use(&self) -> usize {
        self.pool.lock().map(|p| p.in_use()).unwrap_or(0)
    }

    fn allocate(&self) -> Result<PortPair, MediaError> {
        let mut pool = self
            .pool
            .lock()
            .map_err(|_| MediaError::Ports(PortPoolError::Exhausted))?;
        Ok(pool.allocate()?)
    }

    /// Allocates a pair and binds RTP and RTCP on it; on a bind failure the pair is put back
    /// (it will be tried again last) and another is tried.
    async fn bind_leg(&self, lease: &mut PortLease) -> Result<(PortPair, LegSockets), MediaError> {
        let mut last_error = None;
        for _ in 0..BIND_ATTEMPTS {
            let pair = self.allocate()?;
            let ip = self.config.relay_ip;
            let rtp = UdpSocket::bind(SocketAddr::new(ip, pair.rtp)).await;
            let rtcp = match &rtp {
                Ok(_) => Some(UdpSocket::bind(SocketAddr::new(ip, pair.rtcp())).await),
                Err(_) => None,
            };
            match (rtp, rtcp) {
                (Ok(rtp), Some(Ok(rtcp))) => {
                    lease.pairs.push(pair);
                    return Ok((pair, LegSockets { rtp, rtcp }));
                }
                (Err(e), _) | (_, Some(Err(e))) => {
                    tracing::debug!(port = pair.rtp, error = %e, "relay port busy, trying another");
                    last_error = Some((pair.rtp, e));
                }
                (Ok(_), None) => {}
            }
            if let Ok(mut pool) = self.pool.lock() {
                pool.release(pair);
            }
        }
        match last_error {
            Some((port, source)) => Err(MediaError::Bind { port, source }),
            None => Err(MediaError::Ports(PortPoolError::Exhausted)),
        }
    }

    /// Opens a call's media: a port pair per leg, bound on the relay address, and its relay
    /// task. Dropping or closing the returned handle ends the task and returns the ports.
    pub async fn open_call(&self, call_id: &str) -> Result<CallMedia, MediaError> {
        let mut lease = PortLease {
            pool: Arc::clone(&self.pool),
            pairs: Vec::with_capacity(2),
        };
        let (pair_a, sockets_a) = self.bind_leg(&mut lease).await?;
        let (pair_b, sockets_b) = self.bind_leg(&mut lease).await?;
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
        let span = tracing::debug_span!("media", call_id);
        let join = tokio::spawn(
            async move {
                task.run().await;
                // The sockets are closed now; the ports can go back to the pool.
                drop(lease);
            }
            .instrument(span),
        );
        tracing::debug!(call_id, a = pair_a.rtp, b = pair_b.rtp, "media opened");
        Ok(CallMedia::new(
            call_id.to_owned(),
            self.config.relay_ip,
            [pair_a, pair_b],
            self.config.recorder_queue,
            self.config.recordable_codecs_only,
            Arc::clone(&self.counters),
            command_tx,
            event_rx,
            join,
        ))
    }
}

/// Which pair serves which leg.
pub(crate) fn leg_pair(pairs: &[PortPair; 2], leg: Leg) -> PortPair {
    match leg {
        Leg::A => pairs[0],
        Leg::B => pairs[1],
    }
}
