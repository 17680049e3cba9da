//! `cutover`: the command-line front end.
//!
//! The CLI only changes desired state in the store (target, endpoints, the cutover
//! batch) and shows it; `run` does the work, with the engine in `cutover-sync`.
//! `args` is the command line, `commands/` one module per noun, `views` how objects
//! are named for admins (Exchange's property names), `output` how they print,
//! `progress` the bars that `run` draws from the engine's events. `serve` runs the
//! service of `cutover-service` (workers and HTTP API); `ps` is the cmdlet shell (a
//! second front end over the same `commands` functions).

mod args;
mod commands;
mod output;
mod password;
mod progress;
mod ps;
mod views;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use cutover_store::Store;

use args::{Cli, Command};
use output::Format;

/// Everything a command needs.
pub struct Ctx {
    pub store: Arc<dyn Store>,
    pub format: Format,
    pub select: Vec<String>,
}

impl Ctx {
    pub fn print(&self, records: &[output::Record], single: bool) -> anyhow::Result<()> {
        output::Printer {
            format: self.format,
            select: self.select.clone(),
        }
        .print(records, single)
    }
}

fn default_state() -> String {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/share"))
        })
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    format!("sqlite://{}", base.join("cutover/state.db").display())
}

fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    // `run` on a terminal draws progress bars; logs would tear them, so only warnings.
    let running = matches!(cli.command, Command::Run { .. });
    let serving = matches!(cli.command, Command::Serve(_) | Command::Worker { .. });
    let default = match cli.verbose {
        0 if serving => "info",
        0 if running && !std::io::stderr().is_terminal() => "info",
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("CUTOVER_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{default},sqlx=warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let out = output::Printer {
        format: cli.format.unwrap_or_default(),
        select: cli.select.clone(),
    };
    // Testing a server stores nothing: no state is opened (or created) for it.
    if let Command::TestServer(args) = cli.command {
        return commands::test_server::run(&out, *args).await;
    }
    let url = cli
        .state
        .as_ref()
        .map(|s| s.expose().to_string())
        .unwrap_or_else(default_state);
    // Never the URL's password: not in an error, not in a log.
    let shown = cutover_store::redact_url(&url);
    // The API token and the signing key sit beside the SQLite database, or beside the
    // key file of a PostgreSQL state.
    let state_path = cutover_store::side_files_base(&url, cli.key_file.as_deref())
        .with_context(|| format!("cannot open the state at {shown}"))?;
    let store = cutover_store::open(&url, cli.key_file.as_deref())
        .await
        .with_context(|| format!("cannot open the state at {shown}"))?;
    let ctx = Ctx {
        store,
        format: cli.format.unwrap_or_default(),
        select: cli.select,
    };
    let done = match cli.command {
        Command::Target(c) => commands::target::run(&ctx, c).await,
        Command::Endpoint(c) => commands::endpoint::run(&ctx, *c).await,
        Command::Batch(c) => commands::batch::run(&ctx, c).await,
        Command::Directory(c) => commands::directory::run(&ctx, c).await,
        Command::User(c) => commands::user::run(&ctx, c).await,
        Command::Job(c) => commands::job::run(&ctx, c).await,
        Command::Domain(c) => commands::domain::run(&ctx, c).await,
        Command::Dns(c) => commands::dns::run(&ctx, c).await,
        Command::Run { once } => commands::run::run(&ctx, once).await,
        Command::Worker { jobs } => commands::run::worker(&ctx, jobs).await,
        Command::Ps(args) => ps::run(&ctx, args).await,
        Command::Serve(args) => commands::serve::run(&ctx, args, &state_path).await,
        Command::State(c) => commands::state::run(&ctx, c).await,
        Command::Report(c) => commands::report::run(&ctx, c, &state_path).await,
        Command::Notify(c) => commands::notify::run(&ctx, c).await,
        Command::License(c) => commands::license::run(&ctx, c).await,
        Command::TestServer(_) => unreachable!("handled before the state is opened"),
    };
    ctx.store.close().await;
    done
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    // One crypto provider for every TLS connection (ring; no aws-lc).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // `cutover batch get | head`: the reader left; nothing is wrong.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        // The cmdlet shell printed its errors the way PowerShell does.
        Err(e) if e.downcast_ref::<ps::Reported>().is_some() => {
            ExitCode::from(e.downcast_ref::<ps::Reported>().map_or(1, |r| r.0))
        }
        Err(e) => {
            // Errors carry servers' texts (IMAP answers, DNS and HTTP errors).
            let safe = |t: String| output::terminal_safe(&t).into_owned();
            eprintln!("error: {}", safe(e.to_string()));
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {}", safe(cause.to_string()));
            }
            ExitCode::FAILURE
        }
    }
}
