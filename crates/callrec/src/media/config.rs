//! Settings of the media engine (the integrator maps `[media]` and `[recording]` onto it).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Media engine settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaEngineConfig {
    /// Address the relay sockets bind and the SDP advertises. Default 127.0.0.1.
    pub relay_ip: IpAddr,
    /// Lowest relay port (inclusive). Default 20000.
    pub port_min: u16,
    /// Highest relay port (inclusive). Default 30000.
    pub port_max: u16,
    /// No RTP from either leg for this long raises [`MediaEvent::MediaTimeout`]. Default 60 s.
    ///
    /// [`MediaEvent::MediaTimeout`]: super::MediaEvent::MediaTimeout
    pub media_timeout: Duration,
    /// The timeout while on hold; `None` (default) = none.
    pub hold_timeout: Option<Duration>,
    /// Frames a recorder queue holds before the relay drops (and counts) frames. Default 1000
    /// (10 s of both legs at 20 ms).
    pub recorder_queue: usize,
    /// Narrow every offer's audio codecs to those the recorder decodes (PCMU, PCMA, plus
    /// telephone-event and CN) when it offers PCMU or PCMA, so endpoints do not settle on a codec
    /// that would record as silence (G.722, Opus, G.729 ...). Default `true`.
    pub recordable_codecs_only: bool,
}

impl Default for MediaEngineConfig {
    fn default() -> Self {
        MediaEngineConfig {
            relay_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_min: 20000,
            port_max: 30000,
            media_timeout: Duration::from_secs(60),
            hold_timeout: None,
            recorder_queue: 1000,
            recordable_codecs_only: true,
        }
    }
}
