//! `cutover test-server` (Test-MigrationServerAvailability): can we reach this server,
//! trust its certificate, and open a user's mailbox as the admin?

use anyhow::bail;
use cutover_model::Connection;
use secrecy::SecretString;
use serde_json::Value;

use super::verify::{self, Step};
use crate::args::TestServerArgs;
use crate::output::{Printer, Record};
use crate::password;
use crate::views;

/// Tests the server; the record says Success or Failed, with the step that failed.
pub async fn test(
    connection: &Connection,
    password: &SecretString,
    mailbox: Option<&str>,
) -> (Record, Option<Step>) {
    let probe = verify::probe(connection, password, mailbox).await;
    let (result, step, message) = match &probe.failed {
        None => ("Success", Value::Null, probe.summary.clone()),
        Some((step, why)) => ("Failed", Value::from(step.as_str()), why.clone()),
    };
    let record = Record::new()
        .with("Result", result)
        .with("FailedStep", step)
        .with("Message", message)
        .with("TestedMailbox", mailbox.map(str::to_string))
        .with("InboxMessageCount", probe.inbox_messages)
        .with("Capabilities", Value::from(probe.capabilities.clone()))
        // The settings an endpoint would store (ConnectionSettings), flattened.
        .with("ConnectionSettings", views::connection_settings(connection));
    (record, probe.failed.map(|(step, _)| step))
}

/// The clap front end.
pub async fn run(out: &Printer, args: TestServerArgs) -> anyhow::Result<()> {
    let connection = verify::connection(&args.server)?;
    let pw = password::require(&args.server.password, "Admin password: ")?;
    let mailbox = args
        .mailbox
        .as_deref()
        .or(args.server.test_mailbox.as_deref());
    let (record, failed) = test(&connection, &pw, mailbox).await;
    out.print(&[record], true)?;
    if let Some(step) = failed {
        bail!(
            "the server test failed at step {}{}",
            step.as_str(),
            if step == Step::Connect && connection.ca_file.is_none() {
                " (a private CA? give it with --ca-file)"
            } else {
                ""
            }
        );
    }
    Ok(())
}
