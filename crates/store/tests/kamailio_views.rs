//! The tables and views a Kamailio edge reads (schema 3, PostgreSQL only): `subscriber` for
//! auth_db, `carrier_addresses` for carrier recognition, Kamailio's `version` and `location`.

mod common;

use callrec_store::{DocKind, Store};
use common::{TestDb, T0};
use serde_json::json;
use sqlx::Row;

async fn pg(db: &TestDb) -> sqlx::PgPool {
    sqlx::PgPool::connect(&db.url).await.expect("connect")
}

async fn seed(s: &Store) {
    let acct = |realm: &str, extra: serde_json::Value| {
        let mut b = json!({"name": realm, "realm": realm});
        if let (Some(b), Some(e)) = (b.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        b
    };
    s.create(
        "a1",
        DocKind::Account,
        "a1",
        acct("Demo.Example", json!({})),
        T0,
    )
    .await
    .unwrap();
    s.create(
        "a2",
        DocKind::Account,
        "a2",
        acct("off.example", json!({"pvt_enabled": false})),
        T0,
    )
    .await
    .unwrap();
    s.create("a1", DocKind::User, "u-on", json!({"first_name": "On"}), T0)
        .await
        .unwrap();
    s.create(
        "a1",
        DocKind::User,
        "u-off",
        json!({"first_name": "Off", "enabled": false}),
        T0,
    )
    .await
    .unwrap();
    let device = |user: &str, extra: serde_json::Value| {
        let mut d = json!({"sip": {"username": user, "password": format!("pw-{user}")}});
        if let (Some(d), Some(e)) = (d.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                if k == "sip" {
                    d["sip"]
                        .as_object_mut()
                        .unwrap()
                        .extend(v.as_object().unwrap().clone());
                } else {
                    d.insert(k.clone(), v.clone());
                }
            }
        }
        d
    };
    for (acct, id, body) in [
        ("a1", "d-plain", device("100", json!({"owner_id": "u-on"}))),
        (
            "a1",
            "d-realm",
            device("101", json!({"sip": {"realm": " Other.Example "}})),
        ),
        (
            "a1",
            "d-method",
            device("102", json!({"sip": {"method": "password"}})),
        ),
        ("a1", "d-disabled", device("103", json!({"enabled": false}))),
        (
            "a1",
            "d-owner-off",
            device("104", json!({"owner_id": "u-off"})),
        ),
        (
            "a1",
            "d-owner-gone",
            device("105", json!({"owner_id": "u-none"})),
        ),
        (
            "a1",
            "d-ip",
            json!({"sip": {"method": "ip", "ip": "10.0.0.9", "username": "106"}}),
        ),
        ("a2", "d-acct-off", device("107", json!({}))),
    ] {
        s.create(acct, DocKind::Device, id, body, T0).await.unwrap();
    }
    for (id, body) in [
        (
            "r-cidrs",
            json!({"gateways": [{"server": "192.0.2.1"}], "origination_cidrs": ["198.51.100.0/24", "bogus", "2001:db8::1"]}),
        ),
        (
            "r-gws",
            json!({"gateways": [{"server": "192.0.2.7"}, {"server": "[2001:db8::7]"}, {"server": "sip.example.com"}]}),
        ),
        (
            "r-off",
            json!({"enabled": false, "gateways": [{"server": "192.0.2.66"}]}),
        ),
    ] {
        s.create("a1", DocKind::Resource, id, body, T0)
            .await
            .unwrap();
    }
}

async fn md5(pool: &sqlx::PgPool, s: &str) -> String {
    sqlx::query_scalar("SELECT md5($1)")
        .bind(s)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_lists_the_devices_that_may_register_with_their_realm_and_ids() {
    let db = TestDb::postgres();
    let s = db.open().await;
    seed(&s).await;
    let pool = pg(&db).await;
    let rows = sqlx::query(
        "SELECT id, username, domain, password, ha1, ha1b, device_id, account_id \
         FROM subscriber ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let got: Vec<(String, String, String, String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r.get("id"),
                r.get("username"),
                r.get("domain"),
                r.get("password"),
                r.get("device_id"),
                r.get("account_id"),
            )
        })
        .collect();
    let want = |id: &str, user: &str, domain: &str| {
        (
            id.to_owned(),
            user.to_owned(),
            domain.to_owned(),
            format!("pw-{user}"),
            id.to_owned(),
            "a1".to_owned(),
        )
    };
    assert_eq!(
        got,
        vec![
            want("d-method", "102", "demo.example"),
            want("d-plain", "100", "demo.example"),
            want("d-realm", "101", "other.example"),
        ],
        "disabled devices, owners and accounts, dangling owners and ip devices are left out"
    );
    // ha1 = MD5(user:realm:password), as auth_db computes it with calculate_ha1.
    let ha1: String = rows[1].get("ha1");
    let ha1b: String = rows[1].get("ha1b");
    assert_eq!(ha1, md5(&pool, "100:demo.example:pw-100").await);
    assert_eq!(
        ha1b,
        md5(&pool, "100@demo.example:demo.example:pw-100").await
    );

    // A password changed through the store is what the next lookup sees.
    let doc = s.get(DocKind::Device, "d-plain").await.unwrap();
    let mut body = doc.body.clone();
    body["sip"]["password"] = json!("changed");
    s.replace(DocKind::Device, "d-plain", Some(doc.rev), body, T0 + 1)
        .await
        .unwrap();
    let pw: String = sqlx::query_scalar(
        "SELECT password FROM subscriber WHERE username = '100' AND domain = 'demo.example'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(pw, "changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_addresses_follow_origination_cidrs_else_gateway_ips() {
    let db = TestDb::postgres();
    let s = db.open().await;
    seed(&s).await;
    let pool = pg(&db).await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT resource_id, address::text FROM carrier_addresses ORDER BY resource_id, address",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            ("r-cidrs".to_owned(), "198.51.100.0/24".to_owned()),
            ("r-cidrs".to_owned(), "2001:db8::1/128".to_owned()),
            ("r-gws".to_owned(), "192.0.2.7/32".to_owned()),
            ("r-gws".to_owned(), "2001:db8::7/128".to_owned()),
        ]
    );
    // The edge's query: is this source inside one of them?
    let hit = |ip: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM carrier_addresses WHERE $1::inet <<= address",
            )
            .bind(ip)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(hit("198.51.100.77").await, 1);
    assert_eq!(hit("192.0.2.7").await, 1);
    assert_eq!(
        hit("192.0.2.1").await,
        0,
        "cidrs given: gateways are not sources"
    );
    assert_eq!(hit("192.0.2.66").await, 0, "disabled resource");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_finds_its_table_versions_and_location_table() {
    let db = TestDb::postgres();
    let s = db.open().await;
    drop(s);
    // Opening again (a second node starting) changes nothing.
    let s = db.open().await;
    let pool = pg(&db).await;
    let versions: Vec<(String, i32)> =
        sqlx::query_as("SELECT table_name::text, table_version FROM version ORDER BY 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        versions,
        vec![
            ("location".to_owned(), 9),
            ("location_attrs".to_owned(), 1),
            ("subscriber".to_owned(), 7),
            ("version".to_owned(), 1),
        ]
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM location")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    drop(s);
}
