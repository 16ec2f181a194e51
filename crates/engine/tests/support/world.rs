//! The test world: one account with users 1001 and 1002 (1002 has a second device), a
//! carrier with two gateways, phones registered. Only this file knows how the directory is
//! built.

use callrec_kazoo::directory::Directory;
use serde_json::{json, Value};

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

/// The carrier's two gateways (both also originate calls: their addresses are trusted).
pub struct Carrier2 {
    pub gw1: Phone,
    pub gw2: Phone,
}

fn user(id: &str, number: &str) -> Value {
    json!({"_id": id, "pvt_type": "user", "first_name": "Ext", "last_name": number,
           "caller_id": {"internal": {"name": format!("Ext {number}"), "number": number},
                         "external": {"name": "Acme", "number": format!("+1555000{number}")}}})
}

fn device(id: &str, username: &str, owner: &str) -> Value {
    json!({"_id": id, "pvt_type": "device", "owner_id": owner, "name": id,
           "sip": {"username": username, "password": format!("pw-{username}")}})
}

fn user_flow(id: &str, number: &str, user: &str) -> Value {
    json!({"_id": id, "pvt_type": "callflow", "numbers": [number],
           "flow": {"module": "user", "data": {"id": user}, "children": {}}})
}

/// The documents: account, users 1001-1003, devices (1002 has two), callflows (1002's
/// records the call first), record_caller on 5000, the PSTN pattern, one carrier.
pub fn documents() -> Vec<(String, Value)> {
    let docs = vec![
        json!({"_id": ACCOUNT, "pvt_type": "account", "name": "Acme", "realm": DOMAIN}),
        user(USER_1001, "1001"),
        user(USER_1002, "1002"),
        user("user-1003", "1003"),
        device(DEV_1001, "1001", USER_1001),
        device(DEV_1002, "1002", USER_1002),
        device(DEV_1002B, "1002b", USER_1002),
        device("dev-1003", "1003", "user-1003"),
        user_flow("cf-1001", "1001", USER_1001),
        json!({"_id": "cf-1002", "pvt_type": "callflow", "numbers": ["1002"],
               "flow": {"module": "record_call", "data": {"action": "start"},
                        "children": {"_": {"module": "user", "data": {"id": USER_1002}, "children": {}}}}}),
        user_flow("cf-1003", "1003", "user-1003"),
        json!({"_id": "cf-5000", "pvt_type": "callflow", "numbers": [RECORD_CALLER_NUMBER],
               "flow": {"module": "record_caller", "data": {"url": "http://rec.example.com/"}, "children": {}}}),
        json!({"_id": "cf-pstn", "pvt_type": "callflow", "patterns": ["^\\+?1?[0-9]{10}$"],
               "flow": {"module": "resources", "data": {}, "children": {}}}),
        json!({"_id": "carrier-1", "pvt_type": "resource", "name": "Carrier",
               "gateways": [{"server": "203.0.113.10", "port": 5060},
                            {"server": "203.0.113.11", "port": 5060}]}),
    ];
    docs.into_iter()
        .enumerate()
        .map(|(i, d)| (format!("doc-{i}.json"), d))
        .collect()
}

fn directory() -> Directory {
    Directory::build(documents()).expect("test documents are valid")
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
