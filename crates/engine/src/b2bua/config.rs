//! The core's configuration: our own addresses, what we advertise, and call timeouts.

use std::net::SocketAddr;
use std::time::Duration;

use callrec_kazoo::routing::RoutingPolicy;
use callrec_sip::auth::DigestConfig;
use callrec_sip::message::Method;
use callrec_sip::registrar::{NatPolicy, RegistrarConfig};
use callrec_sip::transaction::Transport;

use super::guard::GuardConfig;
use crate::wall_clock::WallClock;

/// One address of ours as peers should see it (Via sent-by, Contact). The engine fills it from
/// the bound sockets (or the configured public address behind NAT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertised {
    /// The transport of the socket.
    pub transport: Transport,
    /// Host (IP address or name) as written in Via and Contact.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// Typed settings of a [`Core`](super::Core). `Default` gives a working config on
/// `127.0.0.1:5060/udp` with a fixed wall clock, suitable for tests only.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Our addresses, one per transport. Messages sent over a transport use the entry for it
    /// (the first entry when none matches). Must not be empty.
    pub advertised: Vec<Advertised>,
    /// The user part of our Contact URI. Default `callrec`.
    pub contact_user: String,
    /// `User-Agent` / `Server` value. Default `callrec`.
    pub user_agent: String,
    /// Option tags we put in `Supported` and accept in `Require`. Default empty (no 100rel).
    pub supported: Vec<String>,
    /// Methods we implement (`Allow`); others get 501. Default INVITE ACK BYE CANCEL OPTIONS
    /// REGISTER INFO UPDATE.
    pub allow: Vec<Method>,
    /// How long B legs may ring before the call ends with `NO_ANSWER` (480 to the caller).
    /// Default 60 s.
    pub no_answer_timeout: Duration,
    /// How long a carrier gateway may stay silent (no provisional response) before we cancel
    /// it and fail over to the next. Default 8 s.
    pub gateway_setup_timeout: Duration,
    /// Max-Forwards on requests we originate when the A leg carried none. Default 70.
    pub max_forwards: u8,
    /// RFC 3261 T1, the first 2xx retransmission interval. Default 500 ms.
    pub t1: Duration,
    /// RFC 3261 T2, the cap of the 2xx retransmission interval. Default 4 s.
    pub t2: Duration,
    /// Maps `now` onto the wall clock, used only for the first half of an interaction id
    /// (gregorian seconds, as KAZOO counts). The engine anchors it at start-up; tests use a
    /// fixed anchor. The core reads no clock.
    pub wall_clock: WallClock,
    /// Digest nonce lifetime and replay tracking. Default [`DigestConfig::default`].
    pub digest: DigestConfig,
    /// Registration expiry limits. Default [`RegistrarConfig::default`].
    pub registrar: RegistrarConfig,
    /// Where requests to registered devices go unless their document says (`sip.nat`):
    /// the Contact unless NAT is detected (`Auto`, the default), always the REGISTER's source
    /// (`Always`) or always the Contact (`Never`).
    pub nat: NatPolicy,
    /// Rate limit of unknown sources and brute-force blocking. Default [`GuardConfig::default`].
    pub guard: GuardConfig,
    /// Routing settings (PSTN-to-PSTN transit). Default refuses transit.
    pub routing: RoutingPolicy,
    /// Cluster mode (`[cluster] edge`): the edge proxies this node trusts. Behind them the
    /// node neither registers nor challenges: callers are named by the edge's `X-AUTH-*`
    /// headers, calls to devices go to the first edge. Default empty (a single node).
    pub edge: Vec<SocketAddr>,
}

impl Default for CoreConfig {
    fn default() -> CoreConfig {
        CoreConfig {
            advertised: vec![Advertised {
                transport: Transport::Udp,
                host: "127.0.0.1".to_owned(),
                port: 5060,
            }],
            contact_user: "callrec".to_owned(),
            user_agent: "callrec".to_owned(),
            supported: Vec::new(),
            allow: vec![
                Method::Invite,
                Method::Ack,
                Method::Bye,
                Method::Cancel,
                Method::Options,
                Method::Register,
                Method::Info,
                Method::Update,
            ],
            no_answer_timeout: Duration::from_secs(60),
            gateway_setup_timeout: Duration::from_secs(8),
            max_forwards: 70,
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            wall_clock: WallClock::stopped(0),
            digest: DigestConfig::default(),
            registrar: RegistrarConfig::default(),
            nat: NatPolicy::Auto,
            guard: GuardConfig::default(),
            routing: RoutingPolicy::default(),
            edge: Vec::new(),
        }
    }
}

impl CoreConfig {
    /// Our advertised address for `transport`.
    pub(crate) fn advertised_for(&self, transport: Transport) -> Advertised {
        self.advertised
            .iter()
            .find(|a| a.transport == transport)
            .or_else(|| self.advertised.first())
            .cloned()
            .unwrap_or(Advertised {
                transport,
                host: "127.0.0.1".to_owned(),
                port: 5060,
            })
    }

    /// The `Allow` header value.
    pub(crate) fn allow_value(&self) -> String {
        self.allow
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
