//! `cutover run [--once]`: do the due work in the foreground.

use std::io::IsTerminal;
use std::time::Duration;

use chrono::Utc;
use cutover_sync::{EventSink, run_due};

use crate::output::Record;
use crate::{Ctx, progress};

/// How often a long-running `run` looks for due work.
const POLL: Duration = Duration::from_secs(60);

pub async fn run(ctx: &Ctx, once: bool) -> anyhow::Result<()> {
    let (sink, events) = EventSink::channel();
    let drawer = tokio::spawn(progress::draw(events, std::io::stderr().is_terminal()));
    let mut records = Vec::new();
    let result = loop {
        match run_due(ctx.store.clone(), sink.clone()).await {
            Ok(runs) => {
                for r in runs {
                    records.push(
                        Record::new()
                            .with("Identity", r.batch)
                            .with("Status", r.status.as_str())
                            .with("UsersProcessed", r.users)
                            .with("UsersFailed", r.failed)
                            .with("ItemsCopied", r.copied)
                            .with("BytesCopied", r.bytes)
                            .with("FinishedDateTime", crate::output::time(Some(Utc::now()))),
                    );
                }
            }
            Err(e) => break Err(e),
        }
        if once {
            break Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = tokio::signal::ctrl_c() => break Ok(()),
        }
    };
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
