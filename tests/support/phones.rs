//! The example configuration's phones and carrier, played by SIPp.

use std::net::{Ipv4Addr, SocketAddr};

use super::callrec::Callrec;
use super::net::{self, CARRIER_IP, PHONES_IP};
use super::sipp::{credentials, Outcome, Sipp, SippProcess};

/// A phone of the example configuration (SIP username = extension).
pub struct Phone {
    pub ext: &'static str,
    pub password: &'static str,
    /// Its SIP port on 127.0.0.1 (the registered Contact).
    pub port: u16,
    /// Its RTP port.
    pub media: u16,
}

/// Phone 1001 (password demo-1001), on fresh ports.
pub fn phone_1001() -> Phone {
    Phone::new("1001", "demo-1001")
}

/// Phone 1002 (password demo-1002), on fresh ports.
pub fn phone_1002() -> Phone {
    Phone::new("1002", "demo-1002")
}

impl Phone {
    /// A phone with the given credentials on fresh loopback ports.
    pub fn new(ext: &'static str, password: &'static str) -> Phone {
        Phone {
            ext,
            password,
            port: net::free_port(PHONES_IP),
            media: net::free_port_pair(PHONES_IP),
        }
    }

    /// SIPp `register.xml` from this phone's address, with `password`.
    pub fn register_with(&self, callrec: &Callrec, password: &str) -> Outcome {
        Sipp::new(
            &format!("register-{}", self.ext),
            "register.xml",
            callrec.dir.path(),
        )
        .csv(&[&[self.ext, &credentials(self.ext, password)]])
        .local(PHONES_IP, self.port)
        .target(callrec.sip)
        .timeout_s(15)
        .run()
    }

    /// Registers with the right password and asserts the 200.
    pub fn register(&self, callrec: &Callrec) {
        self.register_with(callrec, self.password).assert_ok(1);
    }

    /// Answers `calls` calls on this phone's registered address with `scenario`
    /// (phone_uas.xml, busy_uas.xml, ring_uas.xml), echoing RTP.
    pub fn answer(&self, callrec: &Callrec, scenario: &str, calls: u64) -> SippProcess {
        Sipp::new(
            &format!("{}-answers", self.ext),
            scenario,
            callrec.dir.path(),
        )
        .local(PHONES_IP, self.port)
        .media_port(self.media)
        .rtp_echo()
        .calls(calls)
        .timeout_s(60)
        .spawn()
    }

    /// A call from this phone to `number` with `scenario` (phone_uac.xml, hold_uac.xml,
    /// cancel_uac.xml, busy_uac.xml, uac_pcap.xml, wrong_auth_uac.xml), ready to run.
    pub fn call(&self, callrec: &Callrec, number: &str, scenario: &str) -> Sipp {
        self.call_with(callrec, number, scenario, self.password)
    }

    /// Like [`Phone::call`] with another password.
    pub fn call_with(
        &self,
        callrec: &Callrec,
        number: &str,
        scenario: &str,
        password: &str,
    ) -> Sipp {
        Sipp::new(
            &format!("{}-calls-{}", self.ext, number.trim_start_matches('+')),
            scenario,
            callrec.dir.path(),
        )
        .csv(&[&[self.ext, &credentials(self.ext, password), number]])
        .auth_uri(number, callrec.sip)
        .local(PHONES_IP, self.port)
        .media_port(self.media)
        .target(callrec.sip)
    }
}

/// The carrier of the example configuration, at the address callrec was configured with.
pub struct Carrier {
    pub addr: SocketAddr,
    pub media: u16,
}

impl Carrier {
    /// The carrier that `callrec` sends offnet calls to and trusts for origination.
    pub fn of(callrec: &Callrec) -> Carrier {
        Carrier {
            addr: callrec.carrier,
            media: net::free_port_pair(CARRIER_IP),
        }
    }

    fn ip(&self) -> Ipv4Addr {
        match self.addr.ip() {
            std::net::IpAddr::V4(ip) => ip,
            std::net::IpAddr::V6(_) => CARRIER_IP,
        }
    }

    /// Answers `calls` calls (carrier_uas.xml), echoing RTP.
    pub fn answer(&self, callrec: &Callrec, calls: u64) -> SippProcess {
        Sipp::new("carrier-answers", "carrier_uas.xml", callrec.dir.path())
            .local(self.ip(), self.addr.port())
            .media_port(self.media)
            .rtp_echo()
            .calls(calls)
            .timeout_s(60)
            .spawn()
    }

    /// A call from the PSTN number `from` to `did` (carrier_uac.xml), ready to run.
    pub fn call(&self, callrec: &Callrec, from: &str, did: &str) -> Sipp {
        Sipp::new(
            &format!("carrier-calls-{}", did.trim_start_matches('+')),
            "carrier_uac.xml",
            callrec.dir.path(),
        )
        .csv(&[&[from, did]])
        .local(self.ip(), self.addr.port())
        .media_port(self.media)
        .target(callrec.sip)
    }
}

/// The first Call-ID SIPp sent or received in a messages log.
pub fn first_call_id(messages: &str) -> Option<String> {
    messages
        .lines()
        .find_map(|l| l.strip_prefix("Call-ID:").or_else(|| l.strip_prefix("i:")))
        .map(|v| v.trim().to_owned())
}

/// The directory holding `pcap/g711a.pcap` (SIPp's working directory for uac_pcap.xml).
pub fn fixtures() -> std::path::PathBuf {
    super::repo_root().join("tests/fixtures")
}

/// The distinct Call-IDs of the INVITEs that a SIPp messages log shows as received, in order.
pub fn received_invite_call_ids(messages: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let mut received = false;
    let mut invite = false;
    for line in messages.lines() {
        if line.contains("message received") {
            received = true;
            invite = false;
        } else if line.contains("message sent") {
            received = false;
            invite = false;
        } else if received && line.starts_with("INVITE ") {
            invite = true;
        } else if invite {
            if let Some(id) = line
                .strip_prefix("Call-ID:")
                .or_else(|| line.strip_prefix("i:"))
            {
                let id = id.trim().to_owned();
                if !ids.contains(&id) {
                    ids.push(id);
                }
                invite = false;
            }
        }
    }
    ids
}
