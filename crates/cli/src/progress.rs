//! Progress bars for `cutover run` on a terminal, drawn from the engine's events:
//! one bar for the batch (mailboxes done) and one per mailbox being copied (bytes).
//! Off a terminal nothing is drawn; the structured logs say the same.

use std::collections::HashMap;
use std::time::Duration;

use cutover_model::UserStatus;
use cutover_sync::SyncEvent;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;

/// Server texts (folder names, reasons, errors) drawn on the terminal.
fn safe(text: String) -> String {
    crate::output::terminal_safe(&text).into_owned()
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// Draws until the sender side is dropped.
pub async fn draw(mut events: UnboundedReceiver<SyncEvent>, visible: bool) {
    let multi = MultiProgress::with_draw_target(if visible {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let mut batch_bar: Option<ProgressBar> = None;
    let mut users: HashMap<String, (ProgressBar, u64)> = HashMap::new();
    while let Some(event) = events.recv().await {
        match event {
            SyncEvent::BatchStarted {
                batch,
                users: n,
                incremental,
            } => {
                let bar = multi.add(ProgressBar::new(n));
                bar.set_style(style(
                    "{prefix:.bold} [{bar:30}] {pos}/{len} mailboxes  {elapsed_precise}  {msg}",
                ));
                bar.set_prefix(batch);
                bar.set_message(if incremental {
                    "incremental sync"
                } else {
                    "initial sync"
                });
                bar.enable_steady_tick(Duration::from_millis(250));
                batch_bar = Some(bar);
            }
            SyncEvent::UserStarted { email } => {
                let bar = multi.add(ProgressBar::new(0));
                bar.set_style(style(
                    "  {prefix:32} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12}  {msg}",
                ));
                bar.set_prefix(safe(email.clone()));
                bar.set_message("connecting");
                users.insert(email, (bar, 0));
            }
            SyncEvent::UserPlanned {
                email,
                messages,
                bytes,
                ..
            } => {
                if let Some((bar, _)) = users.get(&email) {
                    bar.set_length(bytes);
                    bar.set_message(format!("0/{messages} messages"));
                }
            }
            SyncEvent::Copied {
                email,
                messages,
                bytes,
            } => {
                if let Some((bar, done)) = users.get_mut(&email) {
                    *done += messages;
                    bar.inc(bytes);
                    bar.set_message(format!("{done} messages"));
                }
            }
            SyncEvent::Skipped {
                email,
                folder,
                uid,
                reason,
            } => {
                if let Some((bar, _)) = users.get(&email) {
                    bar.println(safe(format!(
                        "{email}: skipped UID {uid} in {folder}: {reason}"
                    )));
                }
            }
            SyncEvent::UserFinished {
                email,
                status,
                copied,
                error,
            } => {
                if let Some((bar, _)) = users.remove(&email) {
                    match (status, error) {
                        (UserStatus::Failed, Some(e)) => {
                            bar.abandon_with_message(safe(format!("Failed: {e}")))
                        }
                        _ => bar.finish_with_message(format!("{status}, {copied} messages copied")),
                    }
                }
                if let Some(b) = &batch_bar {
                    b.inc(1);
                }
            }
            SyncEvent::BatchFinished { status, .. } => {
                if let Some(b) = batch_bar.take() {
                    b.finish_with_message(status.to_string());
                }
            }
        }
    }
}
