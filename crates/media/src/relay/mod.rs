//! The RTP relay, sans-IO: the port pool, RTP/RTCP header parsing, and the per-call state
//! machine that decides where each received datagram goes (symmetric latching, drops with
//! reasons, media timeout). The tokio driver in the `callrec` crate owns the sockets.

mod call;
mod decision;
mod error;
mod leg;
mod ports;
mod rtp_header;

pub use call::{CallRelay, RelayConfig, RelayEvent};
pub use decision::{Channel, Decision, DropReason};
pub use error::{PortPoolError, RtpError};
pub use leg::Leg;
pub use ports::{PortPair, PortPool};
pub use rtp_header::{classify, PacketKind, RtcpHeader, RtpHeader};
