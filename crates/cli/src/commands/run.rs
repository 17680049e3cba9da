//! `cutover run [--once]`: do the due work in the foreground; `cutover worker`: do it
//! beside other workers, without the API, until stopped.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cutover_service::notify;
use cutover_service::scheduler::{OnError, Rounds, work};
use cutover_sync::{EventSink, StopReason, StopSignal, Worker};

use crate::output::Record;
use crate::{Ctx, progress};

/// How often a long-running `run` looks for due work.
const POLL: Duration = Duration::from_secs(60);

/// Sets `shutdown` on SIGTERM or Ctrl-C: passes finish the chunk in flight and stop.
pub fn on_termination(shutdown: StopSignal) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate => {}
        }
        tracing::warn!("stopping: the passes finish their chunk in flight, then exit");
        shutdown.stop(StopReason::Shutdown);
    });
}

pub async fn run(ctx: &Ctx, once: bool) -> anyhow::Result<()> {
    let shutdown = StopSignal::default();
    on_termination(shutdown.clone());
    let (sink, events) = EventSink::channel();
    let drawer = tokio::spawn(progress::draw(events, std::io::stderr().is_terminal()));
    let mut records = Vec::new();
    let worker = Worker::new("run");
    let notifier = Arc::new(notify::Notifier::default());
    let result = work(
        ctx.store.clone(),
        sink.clone(),
        shutdown.clone(),
        &worker,
        Rounds {
            poll: POLL,
            once,
            on_error: OnError::Stop,
            jobs: None,
        },
        |r| {
            records.push(
                Record::new()
                    .with("Identity", r.batch)
                    .with("Status", r.status.as_str())
                    .with("UsersProcessed", r.users)
                    .with("UsersFailed", r.failed)
                    .with("ItemsCopied", r.copied)
                    .with("BytesCopied", r.bytes)
                    .with("FinishedDateTime", crate::output::time(Some(Utc::now()))),
            )
        },
        // The notification mails due after the round; a failure is logged, never fatal.
        || {
            let (store, notifier) = (ctx.store.clone(), notifier.clone());
            async move {
                notifier.round(store.as_ref(), Utc::now()).await;
            }
        },
    )
    .await;
    drop(sink);
    let _ = drawer.await;
    result?;
    if records.is_empty() {
        eprintln!(
            "nothing is due: no batch is syncing and no incremental sync is due \
             (`cutover batch start NAME` asks for one now)"
        );
    }
    ctx.print(&records, false)
}

/// How often an idle `worker` looks for due work (PostgreSQL wakes it at once).
const WORKER_POLL: Duration = Duration::from_secs(5);

pub async fn worker(ctx: &Ctx, jobs: Option<usize>) -> anyhow::Result<()> {
    anyhow::ensure!(jobs != Some(0), "--jobs must be at least 1");
    let shutdown = StopSignal::default();
    on_termination(shutdown.clone());
    let (sink, mut events) = EventSink::channel();
    // Progress goes to the log (per user), not to bars: a worker runs unattended.
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    let worker = Worker::new("worker");
    tracing::info!(worker = worker.id, "worker starting");
    let notifier = Arc::new(notify::Notifier::default());
    let result = work(
        ctx.store.clone(),
        sink.clone(),
        shutdown,
        &worker,
        Rounds {
            poll: WORKER_POLL,
            once: false,
            on_error: OnError::Retry,
            jobs,
        },
        |r| tracing::info!(batch = r.batch, status = %r.status, users = r.users, copied = r.copied, "pass done"),
        || {
            let (store, notifier) = (ctx.store.clone(), notifier.clone());
            async move {
                notifier.round(store.as_ref(), Utc::now()).await;
            }
        },
    )
    .await;
    drop(sink);
    let _ = drain.await;
    result?;
    tracing::info!("worker stopped");
    Ok(())
}
