//! Settings of the media driver (the binary maps `[media]` onto it).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Media driver settings. The relay port range is the engine's (it chooses the ports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDriverConfig {
    /// Address the relay sockets bind. Default 127.0.0.1.
    pub relay_ip: IpAddr,
    /// No RTP from either leg for this long raises [`MediaEvent::MediaTimeout`]. Default 60 s.
    ///
    /// [`MediaEvent::MediaTimeout`]: super::MediaEvent::MediaTimeout
    pub media_timeout: Duration,
    /// The timeout while on hold; `None` (default) = none.
    pub hold_timeout: Option<Duration>,
    /// Frames a recorder queue holds before the relay drops (and counts) frames. Default 1000
    /// (10 s of both legs at 20 ms).
    pub recorder_queue: usize,
    /// How often each recording's audio is handed to the OS (a crash loses at most about
    /// this much). Default 1 s.
    pub flush_interval: Duration,
    /// How often each recording's file is `fdatasync`ed (a power loss loses at most about
    /// this much); `None` (default): the kernel writes it back in its own time.
    pub fsync_interval: Option<Duration>,
    /// Relay shard threads (each relays many calls); 0 (default): one per core, at most 8.
    pub relay_threads: usize,
}

impl Default for MediaDriverConfig {
    fn default() -> Self {
        MediaDriverConfig {
            relay_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            media_timeout: Duration::from_secs(60),
            hold_timeout: None,
            recorder_queue: 1000,
            flush_interval: Duration::from_secs(1),
            fsync_interval: None,
            relay_threads: 0,
        }
    }
}
