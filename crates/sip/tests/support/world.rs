//! The test world: one account with users 1001 and 1002 (1002 has a second device), a
//! carrier with two gateways, phones registered. Only this file knows how the directory is
//! built.

use std::net::SocketAddr;

use callrec_sip::directory::{Carrier, Device, Directory};

use super::phone::Phone;
use super::Net;

pub const DOMAIN: &str = "example.com";
pub const ACCOUNT: &str = "acc-1";
pub const DEV_1001: &str = "dev-1001";
pub const DEV_1002: &str = "dev-1002";
pub const DEV_1002B: &str = "dev-1002b";
pub const USER_1001: &str = "user-1001";
pub const USER_1002: &str = "user-1002";
pub const RECORD_CALLER_NUMBER: &str = "5000";

/// The carrier's two gateways (they also originate calls from gw1's address).
pub struct Carrier2 {
    pub gw1: Phone,
    pub gw2: Phone,
}

fn device(id: &str, user: &str, owner: &str, number: &str) -> Device {
    Device {
        id: id.into(),
        username: user.into(),
        password: format!("pw-{user}"),
        owner_id: owner.into(),
        number: number.into(),
        caller_id_name: format!("Ext {number}"),
    }
}

fn directory() -> Directory {
    let gw1: SocketAddr = "203.0.113.10:5060".parse().expect("addr");
    let gw2: SocketAddr = "203.0.113.11:5060".parse().expect("addr");
    Directory {
        realm: DOMAIN.into(),
        account_id: ACCOUNT.into(),
        devices: vec![
            device(DEV_1001, "1001", USER_1001, "1001"),
            device(DEV_1002, "1002", USER_1002, "1002"),
            device(DEV_1002B, "1002b", USER_1002, "1002"),
            device("dev-1003", "1003", "user-1003", "1003"),
        ],
        carriers: vec![Carrier {
            id: "carrier-1".into(),
            origination: vec![gw1.ip()],
            gateways: vec![gw1, gw2],
        }],
        record_caller_number: Some(RECORD_CALLER_NUMBER.into()),
    }
}

/// A network with 1001 and 1002 registered, and the carrier's gateways.
pub fn world() -> (Net, Phone, Phone, Carrier2) {
    let mut net = Net::new(directory());
    let mut p1001 = Phone::new("1001", "pw-1001", DOMAIN, "192.0.2.1:5060");
    let mut p1002 = Phone::new("1002", "pw-1002", DOMAIN, "192.0.2.2:5062");
    p1001.register(&mut net);
    p1002.register(&mut net);
    net.drain_events();
    let carrier = Carrier2 {
        gw1: Phone::new("gw1", "", DOMAIN, "203.0.113.10:5060"),
        gw2: Phone::new("gw2", "", DOMAIN, "203.0.113.11:5060"),
    };
    (net, p1001, p1002, carrier)
}

/// Registers 1002's second device (a desk phone) and returns it.
pub fn world_second_device(net: &mut Net) -> Phone {
    let mut desk = Phone::new("1002b", "pw-1002b", DOMAIN, "192.0.2.3:5060");
    desk.register(net);
    desk
}
