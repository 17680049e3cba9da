//! `cutover test-server` (Test-MigrationServerAvailability): can we reach this server,
//! trust its certificate, and open a user's mailbox as the admin? With --autodiscover,
//! the server is first found from an address.

use anyhow::bail;
use serde_json::Value;

use super::autodiscover;
use super::verify::{self, Step};
use crate::args::TestServerArgs;
use crate::output::{Printer, Record};
use crate::password;
use crate::views;

pub async fn run(out: &Printer, args: TestServerArgs) -> anyhow::Result<()> {
    let pw = password::require(&args.server.password, "Admin password: ")?;
    let mailbox = args
        .mailbox
        .as_deref()
        .or(args.server.test_mailbox.as_deref());
    let (connection, ips, discovery) = if args.discover.autodiscover {
        let (discovery, connection) =
            autodiscover::discover(&args.server, &args.discover, &pw).await?;
        let Some(connection) = connection else {
            let message = autodiscover::outcome(&discovery);
            let record = Record::new()
                .with("Result", "Failed")
                .with("FailedStep", "Autodiscover")
                .with("Message", message.clone())
                .with("DiscoveryMethod", Value::Null)
                .with("DiscoveryLog", autodiscover::log(&discovery))
                .with("TestedMailbox", mailbox.map(str::to_string))
                .with("ConnectionSettings", Value::Null);
            out.print(&[record], true)?;
            bail!("{message}");
        };
        eprintln!("{}", autodiscover::outcome(&discovery));
        let ips = discovery.addresses.clone();
        (connection, ips, Some(discovery))
    } else {
        (verify::connection(&args.server)?, Vec::new(), None)
    };
    let probe = verify::probe_at(&connection, &ips, &pw, mailbox).await;
    let (result, step, message) = match &probe.failed {
        None => ("Success", Value::Null, probe.summary.clone()),
        Some((step, why)) => ("Failed", Value::from(step.as_str()), why.clone()),
    };
    let mut record = Record::new()
        .with("Result", result)
        .with("FailedStep", step)
        .with("Message", message);
    if let Some(d) = &discovery {
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
        .with("Capabilities", Value::from(probe.capabilities.clone()));
    // The settings an endpoint would store (ConnectionSettings), flattened.
    let settings = views::connection_settings(&connection);
    record = record.with("ConnectionSettings", settings);
    out.print(&[record], true)?;
    if let Some((step, _)) = probe.failed {
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
