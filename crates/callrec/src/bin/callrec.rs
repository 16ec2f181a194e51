//! The `callrec` binary: parses arguments, starts tracing and wires the long-lived services.
//!
//! - `callrec [--config PATH]` runs the server (no `--config`: the embedded default, which is
//!   `config/callrec.toml`).
//! - `callrec check-config --config PATH` validates a config file and its documents (including
//!   every `call_recording` setting) and exits 0 or 1.
//! - `callrec receive --listen ADDR --dir DIR [--fail-first N]` runs the HTTP recording receiver.
//! - `callrec import DIR [--config PATH]` imports the JSON documents of DIR into the store
//!   (documents already stored are left alone; idempotent).
//!
//! Start-up order of the server: config → tracing → spool (writable, free space) → recovery →
//! uploader → CDR writer → store (reachable, schema known; the example documents imported
//! into an empty one) → documents (validated) → API → SIP → engine. Anything wrong is reported
//! before a call arrives.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use callrec::api::metrics::Metrics;
use callrec::api::ApiState;
use callrec::cdr::CdrWriter;
use callrec::config::Config;
use callrec::documents::FileStore;
use callrec::receive::{self, ReceiverConfig};
use callrec::server::recovery::{finalize_recovered, RecoveryOutcome};
use callrec::spool::{Spool, SpoolLock};
use callrec::store_writer::StoreWriter;
use callrec::upload::Uploader;
use callrec_store::{redact_url, Store};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "callrec", version, about = "SIP B2BUA that records calls")]
struct Cli {
    /// Configuration file (TOML). Without it the embedded default is used.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a configuration file and exit (0 = valid, 1 = invalid).
    CheckConfig,
    /// Run a small HTTP server that stores uploaded recordings in a directory.
    Receive {
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long)]
        listen: SocketAddr,
        /// Directory to store files in.
        #[arg(long)]
        dir: PathBuf,
        /// Test aid: answer 500 to the first N uploads.
        #[arg(long, default_value_t = 0)]
        fail_first: u64,
    },
    /// Import a folder of KAZOO JSON documents into the store (new documents only).
    Import {
        /// The folder (one document per `*.json` file, searched recursively).
        dir: PathBuf,
    },
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => Config::embedded_default(),
    })
}

fn init_tracing(default_filter: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default_filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::CheckConfig) => match load_config(cli.config.as_deref()).and_then(|c| {
            let store = FileStore::new(&c.paths.documents_dir);
            callrec::server::load_directory(&store, &callrec::server::policy_config(&c))
        }) {
            Ok(dir) => {
                println!(
                    "config ok; documents ok ({} accounts, {} devices, {} callflows, {} resources)",
                    dir.accounts().len(),
                    dir.devices().len(),
                    dir.callflows().len(),
                    dir.resources().len()
                );
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}", report(&e));
                std::process::ExitCode::FAILURE
            }
        },
        Some(Command::Import { dir }) => {
            let config = match load_config(cli.config.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e:#}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            init_tracing("warn");
            match run_async(async move {
                let store = open_store(&config).await?;
                let now = callrec_kazoo::gregorian::from_unix(callrec::spool::unix_now());
                let n = callrec::store_link::import_dir(&store, &dir, now).await?;
                println!("imported {n} new documents from {}", dir.display());
                Ok(())
            }) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        Some(Command::Receive {
            listen,
            dir,
            fail_first,
        }) => {
            init_tracing("info");
            exit(run_async(receive_main(listen, dir, fail_first)))
        }
        None => {
            let config = match load_config(cli.config.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{}", report(&e));
                    return std::process::ExitCode::FAILURE;
                }
            };
            init_tracing(&config.log.level);
            exit(run_async(server_main(config)))
        }
    }
}

fn exit(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let text = report(&e);
            tracing::error!("{text}");
            eprintln!("callrec: {text}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each cause once. Our `thiserror` errors name their
/// file or key and often write their source into their own message while also exposing it as
/// `source()`; anyhow's `{:#}` then prints that cause twice ("cannot read config/documents:
/// No such file or directory (os error 2): No such file or directory (os error 2)"). A cause
/// whose text is already part of the line is left out.
fn report(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn run_async<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?
        .block_on(f)
}

async fn receive_main(listen: SocketAddr, dir: PathBuf, fail_first: u64) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, dir = %dir.display(), fail_first, "receiver listening");
    receive::serve(listener, ReceiverConfig { dir, fail_first }, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("receiver failed")?;
    Ok(())
}

async fn server_main(config: Config) -> anyhow::Result<()> {
    // One process per spool: held until the process ends (a second one is refused before it
    // could recover and upload the first one's recordings).
    let _spool_lock = SpoolLock::acquire(&config.spool_dir()).context("spool check failed")?;
    let spool = Arc::new(
        Spool::open(config.spool_dir(), config.spool_min_free_bytes())
            .context("spool check failed")?,
    );
    // A crash leaves WAV headers with zero sizes: repair them from the file length (MP3
    // frames are whole already).
    let recovered = {
        let spool = spool.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<RecoveryOutcome> {
            let ids = spool.recover(&repair_audio)?;
            let outcome = finalize_recovered(&spool, &ids)?;
            if outcome.repaired > 0 {
                tracing::info!(
                    recordings = outcome.repaired,
                    calls = outcome.lost_calls,
                    "recordings cut off by a crash repaired"
                );
            }
            Ok(outcome)
        })
        .await
        .context("spool recovery task")??
    };
    let uploader = Uploader::spawn(spool.clone(), config.upload_config())?;
    // The cluster bucket is known before the documents are (the accounts' plans are added when
    // the documents are loaded); recovered recordings are enqueued below, once their rows are.
    uploader.set_storage(callrec::server::with_cluster_storage(
        &Arc::default(),
        &config,
    ));
    tracing::info!(
        pending = recovered.upload.len(),
        kept_local = recovered.kept_local.len(),
        dir = %spool.dir().display(),
        "spool ready"
    );
    // Bind SIP before anything else can fail late: a port in use is refused at start-up.
    let engine = callrec::server::EngineThread::bind(&config).await?;
    let (cdrs, cdr_writer) =
        CdrWriter::spawn_with_retention(&config.cdr_path(), config.cdr.keep_days).await?;
    // Retention: done recordings leave the spool after their keep_*_days, at start-up and
    // every hour.
    let pruner = {
        let spool = spool.clone();
        let keep = config.retention();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
                let spool = spool.clone();
                let now = callrec::spool::unix_now();
                match tokio::task::spawn_blocking(move || spool.prune(now, &keep)).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => {
                        tracing::info!(recordings = n, "old recordings pruned from the spool")
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "spool pruning failed"),
                    Err(_) => {}
                }
            }
        })
    };
    let store = open_store(&config).await?;
    let now = callrec_kazoo::gregorian::from_unix(callrec::spool::unix_now());
    if store
        .load_all()
        .await
        .context("cannot read the store (store.url)")?
        .is_empty()
    {
        if config.paths.documents_dir.is_dir() {
            let n = callrec::store_link::import_dir(&store, &config.paths.documents_dir, now)
                .await
                .with_context(|| {
                    format!(
                        "cannot import {} into the empty store (paths.documents_dir)",
                        config.paths.documents_dir.display()
                    )
                })?;
            tracing::info!(documents = n, "empty store: example documents imported");
        } else {
            tracing::warn!("the store has no documents; create them through the API");
        }
    }
    let policy = callrec::server::policy_config(&config);
    let loaded = callrec::store_link::load(&store, &policy)
        .await
        .context("the stored documents are refused")?;
    let (documents, watcher) = callrec::store_link::spawn_watcher(
        store.clone(),
        policy.clone(),
        loaded,
        config.store_poll_interval(),
    );
    let records = StoreWriter::spawn(store.clone(), &config.paths.data_dir);
    let records_at_exit = records.clone();
    // Recovered recordings: their rows say what recovery found (duration, target).
    for id in recovered.upload.iter().chain(&recovered.kept_local) {
        let Ok(record) = spool.get(id) else { continue };
        let Ok(metadata) = serde_json::from_value(record.metadata.clone()) else {
            continue;
        };
        let state = if record.target.url.is_empty() {
            "local"
        } else {
            "finished"
        };
        if let Some(row) = callrec::server::recording_row(&metadata, state) {
            records.write(row);
        }
    }
    // Each upload that is over updates the recording's row (stored / failed), so that the
    // state reads the same from every node sharing the database.
    let row_updates = {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        uploader.set_on_done(tx);
        let spool = spool.clone();
        let records = records.clone();
        tokio::spawn(async move {
            while let Some(id) = rx.recv().await {
                let spool = spool.clone();
                let Ok(Ok(record)) = tokio::task::spawn_blocking(move || spool.get(&id)).await
                else {
                    continue;
                };
                let state = match record.state {
                    callrec::spool::SpoolState::Stored => "stored",
                    callrec::spool::SpoolState::Failed => "failed",
                    _ => continue,
                };
                let Ok(metadata) = serde_json::from_value(record.metadata.clone()) else {
                    continue;
                };
                if let Some(mut row) = callrec::server::recording_row(&metadata, state) {
                    if let callrec::store_writer::Row::Recording { last_error, .. } = &mut row {
                        *last_error = record.last_error.clone();
                    }
                    records.write(row);
                }
            }
        })
    };
    // Only now are recovered recordings handed to the uploader: their rows ("finished") were
    // queued above and the done-callback is set, so a fast upload's "stored" is written after
    // them, never overwritten by them, and never missed.
    for id in &recovered.upload {
        uploader.enqueue(id.clone());
    }
    let metrics = Arc::new(Metrics::default());
    metrics.set_node(config.cluster.node_id(), recovered.lost_calls as u64);
    let (api_stop_tx, api_stop) = tokio::sync::watch::channel(false);
    let api_task = if config.api.enabled {
        let listener = tokio::net::TcpListener::bind(config.api.listen)
            .await
            .with_context(|| format!("cannot listen on {} (api.listen)", config.api.listen))?;
        tracing::info!(addr = %config.api.listen, "API listening");
        let mut state = ApiState::new(
            store.clone(),
            documents.clone(),
            policy,
            spool.clone(),
            config.api.token_ttl_s,
            config.api.login_failures_per_minute,
            metrics.clone(),
        );
        state.cluster_storage = config.cluster.storage_settings();
        state.upload = config.upload_config();
        let state = Arc::new(state);
        let mut stop = api_stop.clone();
        Some(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = callrec::api::serve(listener, state, shutdown).await {
                tracing::error!(error = %e, "API server stopped");
            }
        }))
    } else {
        None
    };
    let uploader = Arc::new(uploader);
    let services = callrec::server::Services {
        spool: spool.clone(),
        uploader: uploader.clone(),
        cdrs: cdrs.clone(),
        records,
        documents,
        watcher,
        metrics,
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let shutdown = async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = shutdown => {}
            _ = term.recv() => {}
        }
    };
    let result = engine.run(config, services, shutdown).await;
    tracing::info!("shutting down");
    // CDRs and recording rows wait a moment to be written in batches: write the last ones.
    if !records_at_exit
        .flush(std::time::Duration::from_secs(10))
        .await
    {
        tracing::warn!("the last CDRs and recording rows may not be in the store");
    }
    let _ = api_stop_tx.send(true);
    if let Some(t) = api_task {
        let _ = t.await;
    }
    pruner.abort();
    uploader.shutdown().await;
    row_updates.abort();
    drop(cdrs);
    cdr_writer.finish().await;
    result
}

/// Opens the store of `store.url` (SQLite in the data directory by default); refused with a
/// message naming the key (and the URL without its password).
async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.store_url();
    Store::open(&url)
        .await
        .with_context(|| format!("cannot open the store (store.url = {})", redact_url(&url)))
}

fn repair_audio(path: &Path) -> std::io::Result<()> {
    if path.extension().and_then(|e| e.to_str()) == Some("wav") {
        callrec_media::record::repair_wav(path)
            .map(|_| ())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    Ok(())
}
