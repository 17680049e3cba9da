//! `cutover serve`: the workers and the HTTP API in one process, until SIGTERM or Ctrl-C.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use cutover_service::server::{HEADER_READ_TIMEOUT, POLL, default_token_file};
use cutover_service::{ServeOptions, serve};
use cutover_sync::StopSignal;

use crate::Ctx;
use crate::args::ServeArgs;
use crate::commands::run::on_termination;

pub async fn run(ctx: &Ctx, args: ServeArgs, state_path: &Path) -> anyhow::Result<()> {
    let shutdown = StopSignal::default();
    on_termination(shutdown.clone());
    let options = ServeOptions {
        listen: args.listen,
        token_file: args
            .token_file
            .unwrap_or_else(|| default_token_file(state_path)),
        tls: args.tls_cert.zip(args.tls_key),
        insecure_http: args.insecure_http,
        poll: POLL,
        header_read_timeout: header_read_timeout(),
        signing_key_file: cutover_service::proof::default_key_file(state_path),
    };
    serve(ctx.store.clone(), options, shutdown, |l| {
        // One line a script (or a test) can wait for; the token itself is never printed.
        eprintln!(
            "cutover serve: listening on {} (dashboard at /, API at /api/v1, OpenAPI at \
             /api/v1/openapi.json); API token in {}{}",
            l.url,
            l.token_file.display(),
            if l.token_created { " (new)" } else { "" }
        );
    })
    .await
    .context("cutover serve")?;
    eprintln!("cutover serve: stopped");
    Ok(())
}

/// [`HEADER_READ_TIMEOUT`], or `CUTOVER_HTTP_HEADER_TIMEOUT_SECS` (tests use a short one).
fn header_read_timeout() -> Duration {
    std::env::var("CUTOVER_HTTP_HEADER_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(HEADER_READ_TIMEOUT)
}
