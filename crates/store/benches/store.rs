//! Document reads (`get`) and PATCH-like writes (`get` + merge + `replace` with the revision
//! read) per second, on SQLite and, when the harness can start it, on PostgreSQL (with its
//! durability settings on). One client at a time. Figures: crates/store/README.md.

use std::hint::black_box;
use std::time::Duration;

use callrec_store::testing::{ClusterOptions, PgCluster};
use callrec_store::{DocKind, Store};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;
use tokio::runtime::Runtime;

const T0: u64 = 63_900_000_000;
const DEVICES: usize = 500;

fn seed(rt: &Runtime, url: &str) -> (Store, Vec<String>) {
    rt.block_on(async {
        let store = Store::open(url).await.expect("open the store");
        store
            .create(
                "acct",
                DocKind::Account,
                "acct",
                json!({"name": "Bench"}),
                T0,
            )
            .await
            .expect("account");
        let mut ids = Vec::with_capacity(DEVICES);
        for i in 0..DEVICES {
            let id = format!("{i:032x}");
            let body = json!({
                "name": format!("device {i}"),
                "device_type": "sip_device",
                "sip": {"username": format!("user{i}"), "password": "x", "realm": "bench.example"},
                "caller_id": {"internal": {"number": format!("{}", 1000 + i)}},
                "enabled": true,
            });
            store
                .create("acct", DocKind::Device, &id, body, T0)
                .await
                .expect("device");
            ids.push(id);
        }
        (store, ids)
    })
}

fn bench_backend(c: &mut Criterion, rt: &Runtime, name: &str, url: &str) {
    let (store, ids) = seed(rt, url);
    let mut group = c.benchmark_group(format!("store/{name}"));
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));

    let mut i = 0usize;
    group.bench_function("get", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            let doc = rt
                .block_on(store.get(DocKind::Device, &ids[i]))
                .expect("get");
            black_box(doc)
        })
    });

    let mut n = 0u64;
    group.bench_function("patch", |b| {
        b.iter(|| {
            n += 1;
            let id = &ids[n as usize % ids.len()];
            rt.block_on(async {
                let doc = store.get(DocKind::Device, id).await.expect("get");
                let mut body = doc.body;
                body["enabled"] = json!(n % 2 == 0);
                store
                    .replace(DocKind::Device, id, Some(doc.rev), body, T0 + n)
                    .await
                    .expect("replace")
            })
        })
    });
    group.finish();
    rt.block_on(store.close());
}

fn store_benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    bench_backend(c, &rt, "sqlite", &url);

    match PgCluster::start_with(&ClusterOptions::default().durable(true)) {
        Ok(cluster) => {
            let url = cluster
                .create_database()
                .expect("create the bench database");
            bench_backend(c, &rt, "postgres", &url);
        }
        Err(e) => eprintln!("skipping the PostgreSQL benchmarks: {e}"),
    }
}

criterion_group!(benches, store_benches);
criterion_main!(benches);
