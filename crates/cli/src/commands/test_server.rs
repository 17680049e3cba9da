//! `cutover test-server` (Test-MigrationServerAvailability): can we reach this server,
//! trust its certificate, and open a user's mailbox as the admin? With --autodiscover,
//! the server is first found from an address.

use anyhow::bail;
use secrecy::SecretString;
use serde_json::Value;

use super::autodiscover::{self, Server};
use super::verify::{self, Step};
use crate::args::TestServerArgs;
use crate::output::{self, Printer, Record};
use crate::views;

/// What a test found: the record to show (Result Success or Failed, with the step that
/// failed) and, when it failed, why, as an error message.
pub struct Tested {
    pub record: Record,
    pub failure: Option<String>,
}

/// Finds the server when asked to (autodiscover), then tests it. Errors only when the
/// discovery itself cannot run (a bad --dns-server, a CA file that cannot be read).
pub async fn test(
    server: &Server,
    password: &SecretString,
    mailbox: Option<&str>,
) -> anyhow::Result<Tested> {
    let located = server.locate(password).await?;
    let discovery = located.discovery.as_ref();
    let Some(connection) = located.connection else {
        let discovery = discovery.expect("only a discovery finds nothing");
        let message = autodiscover::outcome(discovery);
        let record = Record::new()
            .with("Result", "Failed")
            .with("FailedStep", "Autodiscover")
            .with("Message", message.clone())
            .with("DiscoveryMethod", Value::Null)
            .with("DiscoveryLog", autodiscover::log(discovery))
            .with("TestedMailbox", mailbox.map(str::to_string))
            .with("ConnectionSettings", Value::Null);
        return Ok(Tested {
            record,
            failure: Some(message),
        });
    };
    if let Some(d) = discovery {
        output::note(&autodiscover::outcome(d));
    }
    let probe = verify::probe_at(&connection, &located.ips, password, mailbox).await;
    let (result, step, message) = match &probe.failed {
        None => ("Success", Value::Null, probe.summary.clone()),
        Some((step, why)) => ("Failed", Value::from(step.as_str()), why.clone()),
    };
    let mut record = Record::new()
        .with("Result", result)
        .with("FailedStep", step)
        .with("Message", message);
    if let Some(d) = discovery {
        record = record
            .with(
                "DiscoveryMethod",
                d.found().map(|(m, _)| m.as_str().to_string()),
            )
            .with("DiscoveryLog", autodiscover::log(d));
    }
    record = record
        .with("TestedMailbox", mailbox.map(str::to_string))
        .with("InboxMessageCount", probe.inbox_messages)
        .with("Capabilities", Value::from(probe.capabilities.clone()))
        // The settings an endpoint would store (ConnectionSettings), flattened.
        .with(
            "ConnectionSettings",
            views::connection_settings(&connection),
        );
    let failure = probe.failed.map(|(step, _)| {
        format!(
            "the server test failed at step {}{}",
            step.as_str(),
            if step == Step::Connect && connection.ca_file.is_none() {
                " (a private CA? give it with --ca-file)"
            } else {
                ""
            }
        )
    });
    Ok(Tested { record, failure })
}

/// The clap front end.
pub async fn run(out: &Printer, args: TestServerArgs) -> anyhow::Result<()> {
    let server = Server::from_args(&args.server, &args.discover)?;
    let pw = verify::secret(&args.server, "Admin password: ")?;
    let mailbox = args
        .mailbox
        .as_deref()
        .or(args.server.test_mailbox.as_deref());
    let tested = test(&server, &pw, mailbox).await?;
    out.print(&[tested.record], true)?;
    if let Some(why) = tested.failure {
        bail!("{why}");
    }
    Ok(())
}
