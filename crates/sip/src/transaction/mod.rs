//! RFC 3261 §17 transactions (with the RFC 6026 Accepted states), sans-IO.
//!
//! [`TransactionLayer`] owns every client and server transaction of one SIP element. It reads
//! no clock and opens no socket: the driver feeds it parsed messages
//! ([`TransactionLayer::handle_message`]) and timeouts ([`TransactionLayer::handle_timeout`]),
//! the transaction user (the B2BUA) feeds it requests and responses to send, and after every
//! input the caller drains [`TransactionLayer::poll_transmit`] and
//! [`TransactionLayer::poll_event`] until `None`, then sleeps until
//! [`TransactionLayer::poll_timeout`].
//!
//! | file | what |
//! | --- | --- |
//! | `peer.rs` | [`Transport`], [`Peer`] |
//! | `config.rs` | [`TimerConfig`] (T1, T2, T4) |
//! | `timer.rs` | [`Timer`] A–M and the per-transaction timer table |
//! | `key.rs` | transaction matching keys (§17.1.3, §17.2.3) |
//! | `build.rs` | requests and responses the layer makes itself: ACK for non-2xx, CANCEL, 100 |
//! | `client_invite.rs` | INVITE client transaction (§17.1.1, RFC 6026 Accepted) |
//! | `client_non_invite.rs` | non-INVITE client transaction (§17.1.2) |
//! | `server_invite.rs` | INVITE server transaction (§17.2.1, RFC 6026 Accepted) |
//! | `server_non_invite.rs` | non-INVITE server transaction (§17.2.2) |
//! | `layer.rs` | [`TransactionLayer`]: matching, CANCEL handling, queues, the timer schedule |
//! | `event.rs` | [`TxEvent`], [`Transmit`], [`TxStats`] |
//!
//! Responses to a request are sent to the [`Peer`] the request came from (the driver stamps
//! `received`/`rport` on the top Via when it parses, RFC 3581, and keeps TCP connections by
//! peer address); the Via sent-by is not consulted for routing.

mod build;
mod client_invite;
mod client_non_invite;
mod config;
mod event;
mod key;
mod layer;
mod peer;
mod server_invite;
mod server_non_invite;
mod timer;

pub use build::{ack_for_non_2xx, cancel_for};
pub use config::TimerConfig;
pub use event::{Transmit, TxEvent, TxStats};
pub use layer::{new_branch, TransactionLayer};
pub use peer::{ClientTxId, Peer, ServerTxId, Transport};
pub use timer::Timer;

/// The RFC 3261 magic cookie that starts every branch made by an RFC 3261 element.
pub const MAGIC_COOKIE: &str = "z9hG4bK";
