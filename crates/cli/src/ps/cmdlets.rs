//! The cmdlets, bound onto the same functions as the command line (`crate::commands`):
//! only the reading of parameters and the shape of the output differ.

use std::rc::Rc;

use cutover_model::{
    Compression, Connection, Impersonation, OAuthCredential, Security, UserStatus,
};
use secrecy::SecretString;

use super::binding::{
    ArgValue, Bound, Cmdlet, Kind, Param, bind, describe, in_cmdlet_terms, pos0, req, sw, val,
};
use super::builtins;
use super::eval::{PsError, PsResult, Shell};
use super::lexer::Pos;
use super::value::{Credential, Value};
use crate::args::{OAuthArgs, OAuthChangeArgs, OAuthSecretArgs};
use crate::commands::autodiscover::{Autodiscover, Server};
use crate::commands::{batch, domain, endpoint, test_server, user, verify};
use crate::output::Record;

/// The cmdlet a command names (or its alias).
fn find(name: &str, pos: Pos) -> PsResult<&'static Cmdlet> {
    let wanted = alias(name).unwrap_or(name);
    CMDLETS
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(wanted))
        .ok_or_else(|| {
            PsError::new(
                "ObjectNotFound",
                format!(
                    "The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program. Get-Command lists the cmdlets of this shell."
                ),
            )
            .at(pos)
        })
}

/// Fails if the command is unknown: a pipeline checks its commands before it runs any.
pub fn check_exists(name: &str, pos: Pos) -> PsResult<()> {
    find(name, pos).map(|_| ())
}

/// Runs a command of the pipeline.
pub fn invoke(
    shell: &mut Shell<'_>,
    name: &str,
    pos: Pos,
    args: Vec<ArgValue>,
    input: Vec<Value>,
) -> PsResult<Vec<Value>> {
    let c = find(name, pos)?;
    let bound = bind(c, args).map_err(|e| e.at(pos))?;
    for p in c.params.iter().filter(|p| p.mandatory) {
        let piped_identity = p.name == "Identity" && !input.is_empty();
        if !bound.has(p.name) && !piped_identity {
            return Err(bound
                .err(
                    "InvalidArgument",
                    format!("Cannot process command because of one or more missing mandatory parameters: {}.", p.name),
                )
                .at(pos));
        }
    }
    if c.takes_input || input.is_empty() {
        return (c.run)(shell, &bound, input).map_err(|e| e.in_cmdlet(c.name).at(pos));
    }
    // Objects piped into a migration cmdlet bind to -Identity, as in Exchange.
    if !c.params.iter().any(|p| p.name == "Identity") || bound.has("Identity") {
        return Err(bound
            .err(
                "InvalidArgument",
                "The input object cannot be bound to any parameters for the command.",
            )
            .at(pos));
    }
    let mut out = Vec::new();
    for item in input {
        let mut one = Bound {
            cmdlet: bound.cmdlet,
            values: bound.values.clone(),
            switches: bound.switches.clone(),
            positions: bound.positions.clone(),
        };
        one.values.push(("Identity", item));
        out.extend((c.run)(shell, &one, Vec::new()).map_err(|e| e.in_cmdlet(c.name).at(pos))?);
    }
    Ok(out)
}

// The default views: the columns Exchange shows for these objects.
const BATCH_VIEW: &[&str] = &[
    "Identity",
    "Status",
    "TotalCount",
    "SyncedCount",
    "FailedCount",
];
const USER_VIEW: &[&str] = &["Identity", "BatchId", "Status", "LastSyncedDateTime"];
const USER_STATS_VIEW: &[&str] = &[
    "Identity",
    "BatchId",
    "Status",
    "SyncedItemCount",
    "SkippedItemCount",
];
const ENDPOINT_VIEW: &[&str] = &[
    "Identity",
    "EndpointType",
    "RemoteServer",
    "MaxConcurrentMigrations",
];

fn objects(type_name: &str, records: &[Record], view: &'static [&'static str]) -> Vec<Value> {
    records
        .iter()
        .map(|r| Value::object(type_name, r, Some(view)))
        .collect()
}

/// Where the server is: explicit -RemoteServer/-Port/-Security, -Autodiscover
/// -EmailAddress, or the ConnectionSettings of Test-MigrationServerAvailability. Returns
/// the server, the admin's password and the mailbox to test with (none with
/// -Autodiscover: its -EmailAddress is the address to discover the settings for).
fn connection(
    b: &Bound,
    settings: Option<&Value>,
) -> PsResult<(Server, SecretString, Option<String>)> {
    let email = b.string("EmailAddress")?;
    if let Some(v) = settings {
        let Value::Object(o) = v else {
            return Err(b.param_err(
                "ConnectionSettings",
                format!(
                    "The ConnectionSettings of Test-MigrationServerAvailability are expected, not {}.",
                    describe(v)
                ),
            ));
        };
        let field = |n: &str| o.get(n).map(Value::display).unwrap_or_default();
        let bad = |n: &str, e: String| b.param_err("ConnectionSettings", format!("{n}: {e}"));
        let Some(Value::Credential(cred)) = o.get("Credentials") else {
            return Err(b.param_err(
                "ConnectionSettings",
                "These settings carry no credentials: they must come from Test-MigrationServerAvailability -Credentials.",
            ));
        };
        let oauth = if field("Authentication").eq_ignore_ascii_case("OAuth") {
            let opt = |n: &str| {
                o.get(n)
                    .filter(|v| !matches!(v, Value::Null))
                    .map(Value::display)
            };
            Some(cutover_model::OAuthApp {
                provider: field("OAuthProvider")
                    .parse()
                    .map_err(|e| bad("OAuthProvider", e))?,
                tenant: opt("TenantId"),
                client_id: field("ClientId"),
                credential: match field("OAuthCredential").as_str() {
                    "Certificate" => OAuthCredential::Certificate,
                    "ServiceAccountKey" => OAuthCredential::ServiceAccountKey,
                    _ => OAuthCredential::ClientSecret,
                },
                token_url: opt("TokenUrl"),
                scope: opt("Scope"),
            })
        } else {
            None
        };
        let c = Connection {
            server: field("RemoteServer"),
            port: field("Port")
                .parse()
                .map_err(|_| bad("Port", field("Port")))?,
            security: field("Security").parse().map_err(|e| bad("Security", e))?,
            admin: cred.user.clone(),
            impersonation: field("Impersonation")
                .parse()
                .map_err(|e| bad("Impersonation", e))?,
            ca_file: o
                .get("CaFile")
                .filter(|v| !matches!(v, Value::Null))
                .map(Value::display),
            compression: field("Compression")
                .parse()
                .map_err(|e| bad("Compression", e))?,
            oauth,
            dav: None,
        };
        let tested = o
            .get("EmailAddress")
            .filter(|v| !matches!(v, Value::Null))
            .map(Value::display);
        return Ok((Server::Given(c), cred.password.clone(), email.or(tested)));
    }
    let autodiscover = b.switch("Autodiscover");
    let server = if autodiscover {
        if b.value("RemoteServer").is_some() {
            return Err(b.param_err(
                "RemoteServer",
                "-Autodiscover finds the server from -EmailAddress; give one or the other.",
            ));
        }
        String::new()
    } else {
        b.required("RemoteServer")?
    };
    let oauth = oauth_app(b)?;
    let cred = match (&oauth, b.credential("Credentials")?) {
        (_, Some(cred)) => cred,
        (Some((app, Some(secret))), None) => Rc::new(Credential {
            user: app.client_id.clone(),
            password: secret.clone(),
        }),
        (Some((_, None)), None) => {
            return Err(b.err(
                "InvalidArgument",
                "-Authentication OAuth needs the application's secret: -ClientSecretFile FILE or \
                 -CertificateFile PEM (Microsoft), -ServiceAccountKeyFile FILE (Google), or \
                 -Credentials (Get-Credential with the client id and the client secret).",
            ));
        }
        (None, None) => {
            return Err(b.err(
                "InvalidArgument",
                "Cannot process command because of one or more missing mandatory parameters: Credentials. \
                 Use $Credentials = Get-Credential, then -Credentials $Credentials.",
            ));
        }
    };
    let given_security = b.security()?;
    let security = given_security.unwrap_or(Security::Tls);
    let ca_file = b
        .string("CaFile")?
        .map(|p| verify::ca_file(Some(std::path::Path::new(&p))))
        .transpose()
        .map_err(|e| b.anyhow(e))?
        .flatten();
    let c = Connection {
        server: server.trim().to_string(),
        port: b
            .number("Port")?
            .unwrap_or_else(|| verify::default_port(security)),
        security,
        admin: cred.user.clone(),
        impersonation: b.parsed("Impersonation")?.unwrap_or(Impersonation::Authzid),
        ca_file,
        compression: b.parsed("Compression")?.unwrap_or(Compression::Auto),
        oauth: oauth.map(|(app, _)| app),
        dav: None,
    };
    if !autodiscover {
        return Ok((Server::Given(c), cred.password.clone(), email));
    }
    let Some(email) = email else {
        return Err(b.err(
            "InvalidArgument",
            "Cannot process command because of one or more missing mandatory parameters: EmailAddress. \
             -Autodiscover finds the server's settings from an address (usually the admin's).",
        ));
    };
    // -Port with -Autodiscover: the port to try on guessed host names (as --port).
    let guess_port = b.number::<u16>("Port")?.map(|p| {
        let security = given_security.unwrap_or(if p == 993 {
            Security::Tls
        } else {
            Security::StartTls
        });
        (p, security)
    });
    let find = Autodiscover {
        email,
        dns_server: b
            .string("DnsServer")?
            .map(|s| crate::args::parse_dns_server(&s).map_err(|e| b.param_err("DnsServer", e)))
            .transpose()?,
        https_port: b.number("AutodiscoverPort")?.unwrap_or(443),
        guess_port,
        allowed_hosts: b
            .strings("AllowRedirect")?
            .iter()
            .map(|h| crate::args::parse_host(h).map_err(|e| b.param_err("AllowRedirect", e)))
            .collect::<PsResult<Vec<_>>>()?,
        allow_plaintext: b.switch("AllowPlaintext"),
    };
    Ok((
        Server::Discover { find, like: c },
        cred.password.clone(),
        None,
    ))
}

/// `-Authentication OAuth` and the application's settings, read as `--auth oauth2` reads
/// them; with the secret when a file gives it (else -Credentials carries it).
fn oauth_app(b: &Bound) -> PsResult<Option<(cutover_model::OAuthApp, Option<SecretString>)>> {
    let auth = b.string("Authentication")?.unwrap_or_default();
    let path = |n: &str| -> PsResult<Option<std::path::PathBuf>> {
        Ok(b.string(n)?.map(std::path::PathBuf::from))
    };
    let args = OAuthArgs {
        auth: match auth.to_ascii_lowercase().as_str() {
            "" | "basic" | "password" => "password".into(),
            "oauth" | "oauth2" => "oauth2".into(),
            other => {
                return Err(b.param_err(
                    "Authentication",
                    format!("'{other}' is not an authentication of this shell: use Basic (the admin's password) or OAuth."),
                ));
            }
        },
        oauth_provider: b.string("OAuthProvider")?,
        tenant: b.string("TenantId")?,
        client_id: b.string("ApplicationId")?,
        token_url: b.string("TokenUrl")?,
        scope: b.string("Scope")?,
        secret: OAuthSecretArgs {
            client_secret_file: path("ClientSecretFile")?,
            client_secret_env: None,
            certificate_file: path("CertificateFile")?,
            service_account_key: path("ServiceAccountKeyFile")?,
        },
    };
    let in_terms = |e: anyhow::Error| b.err("InvalidArgument", in_cmdlet_terms(&format!("{e:#}")));
    let Some(app) = verify::oauth_app(&args).map_err(in_terms)? else {
        return Ok(None);
    };
    let secret = if args.secret.given() {
        verify::read_oauth_secret(&args.secret).map_err(in_terms)?
    } else {
        None
    };
    Ok(Some((app, secret)))
}

/// `-ExchangeOutlookAnywhere`: we speak IMAP, not MAPI over RPC/HTTP, and do not pretend.
fn refuse_outlook_anywhere(b: &Bound) -> PsResult<()> {
    if b.switch("ExchangeOutlookAnywhere") {
        return Err(b.param_err(
            "ExchangeOutlookAnywhere",
            "cutover does not speak Outlook Anywhere (MAPI over RPC/HTTP); it migrates over IMAP. \
             Use -IMAP -RemoteServer HOST -Port 993 -Security Ssl -Credentials $Credentials \
             (Exchange's own IMAP4 service works as a source), see the README's \"PowerShell front end\".",
        ));
    }
    Ok(())
}

fn test_migration_server_availability(
    shell: &mut Shell<'_>,
    b: &Bound,
    _: Vec<Value>,
) -> PsResult<Vec<Value>> {
    refuse_outlook_anywhere(b)?;
    let (server, password, mailbox) = connection(b, None)?;
    let admin = match &server {
        Server::Given(c) | Server::Discover { like: c, .. } => c.admin.clone(),
    };
    // A failed test is a result (Result: Failed, the step and why), as in Exchange.
    let tested = shell
        .block(test_server::test(&server, &password, mailbox.as_deref()))
        .map_err(|e| b.anyhow(e))?;
    let Value::Object(o) = Value::object("MigrationServerAvailability", &tested.record, None)
    else {
        unreachable!("a record is an object")
    };
    let mut o = (*o).clone();
    // What discovery says to do names the command line's options (--allow-redirect):
    // in the shell, the cmdlet's parameters.
    for (name, value) in &mut o.props {
        match (name.as_str(), value) {
            ("Message", Value::Str(text)) => *text = in_cmdlet_terms(text),
            ("DiscoveryLog", Value::Array(lines)) => {
                for line in lines {
                    if let Value::Str(text) = line {
                        *text = in_cmdlet_terms(text);
                    }
                }
            }
            _ => {}
        }
    }
    // The settings carry the credential (never shown) so that New-MigrationEndpoint
    // -ConnectionSettings $TSMA.ConnectionSettings can use them, as in Exchange.
    for (name, value) in &mut o.props {
        if name == "ConnectionSettings"
            && let Value::Object(s) = value
        {
            let mut s = (**s).clone();
            s.type_name = "ConnectionSettings".into();
            s.props.push((
                "EmailAddress".into(),
                mailbox.clone().map(Value::Str).unwrap_or(Value::Null),
            ));
            s.props.push((
                "Credentials".into(),
                Value::Credential(Rc::new(Credential {
                    user: admin.clone(),
                    password: password.clone(),
                })),
            ));
            *value = Value::Object(Rc::new(s));
        }
    }
    Ok(vec![Value::Object(Rc::new(o))])
}

fn new_migration_endpoint(shell: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    refuse_outlook_anywhere(b)?;
    let name = b.required("Name")?;
    let (server, password, test_mailbox) = connection(b, b.value("ConnectionSettings"))?;
    let p = endpoint::NewEndpoint {
        name,
        server,
        password,
        max_concurrent_migrations: b.number("MaxConcurrentMigrations")?.unwrap_or(100),
        max_concurrent_incremental_syncs: b.number("MaxConcurrentIncrementalSyncs")?.unwrap_or(20),
        test_mailbox,
        skip_verification: b.switch("SkipVerification"),
        directory: None,
        dav: None,
    };
    let r = shell
        .block(endpoint::new(shell.ctx, p))
        .map_err(|e| b.anyhow(e))?;
    Ok(objects("MigrationEndpoint", &[r], ENDPOINT_VIEW))
}

fn get_migration_endpoint(shell: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    let name = b.string("Identity")?;
    let r = shell
        .block(endpoint::get(shell.ctx, name.as_deref()))
        .map_err(|e| b.anyhow(e))?;
    Ok(objects("MigrationEndpoint", &r, ENDPOINT_VIEW))
}

fn set_migration_endpoint(shell: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    let name = b.required("Identity")?;
    let cred = b.credential("Credentials")?;
    let path = |n: &str| -> PsResult<Option<std::path::PathBuf>> {
        Ok(b.string(n)?.map(std::path::PathBuf::from))
    };
    let oauth = OAuthChangeArgs {
        auth: b
            .string("Authentication")?
            .map(|a| match a.to_ascii_lowercase().as_str() {
                "basic" => "password".to_string(),
                _ => a,
            }),
        oauth_provider: b.string("OAuthProvider")?,
        tenant: b.string("TenantId")?,
        client_id: b.string("ApplicationId")?,
        token_url: b.string("TokenUrl")?,
        scope: b.string("Scope")?,
        secret: OAuthSecretArgs {
            client_secret_file: path("ClientSecretFile")?,
            client_secret_env: None,
            certificate_file: path("CertificateFile")?,
            service_account_key: path("ServiceAccountKeyFile")?,
        },
    };
    let in_terms = |e: anyhow::Error| b.anyhow(e);
    let file_secret = if oauth.secret.given() {
        verify::read_oauth_secret(&oauth.secret).map_err(in_terms)?
    } else {
        None
    };
    let oauth_given = oauth.changes_settings() || oauth.secret.given();
    let changes = endpoint::EndpointChanges {
        server: b.string("RemoteServer")?,
        port: b.number("Port")?,
        security: b.security()?,
        admin: cred.as_ref().map(|c| c.user.clone()),
        password: file_secret.or(cred.as_ref().map(|c| c.password.clone())),
        impersonation: b.parsed("Impersonation")?,
        ca_file: b
            .string("CaFile")?
            .map(|p| verify::ca_file(Some(std::path::Path::new(&p))))
            .transpose()
            .map_err(|e| b.anyhow(e))?
            .flatten(),
        compression: b.parsed("Compression")?,
        oauth: oauth_given.then_some(oauth),
        max_concurrent_migrations: b.number("MaxConcurrentMigrations")?,
        max_concurrent_incremental_syncs: b.number("MaxConcurrentIncrementalSyncs")?,
        test_mailbox: b.string("EmailAddress")?,
        skip_verification: b.switch("SkipVerification"),
        directory: None,
        dav: None,
    };
    let r = shell
        .block(endpoint::set(shell.ctx, &name, changes))
        .map_err(|e| b.anyhow(e))?;
    Ok(objects("MigrationEndpoint", &[r], ENDPOINT_VIEW))
}

fn remove_migration_endpoint(
    shell: &mut Shell<'_>,
    b: &Bound,
    _: Vec<Value>,
) -> PsResult<Vec<Value>> {
    let name = b.required("Identity")?;
    shell
        .block(endpoint::remove(shell.ctx, &name))
        .map_err(|e| b.anyhow(e))?;
    Ok(Vec::new())
}

/// -CSVData: bytes ([System.IO.File]::ReadAllBytes), text, or lines (Get-Content).
fn csv_data(b: &Bound) -> PsResult<String> {
    let text = match b.value("CSVData") {
        None => {
            return Err(b.err(
                "InvalidArgument",
                "Cannot process command because of one or more missing mandatory parameters: CSVData. \
                 Over IMAP the source's mailboxes cannot be listed (Outlook Anywhere reads them from \
                 Active Directory), so without a directory on the endpoint (`cutover endpoint set NAME \
                 --directory ldaps://HOST ...`, then the batch is the whole organization) a cutover \
                 batch takes the users CSV (EmailAddress,UserName,Password): \
                 -CSVData ([System.IO.File]::ReadAllBytes(\"users.csv\"))",
            ));
        }
        Some(Value::Bytes(bytes)) => String::from_utf8(bytes.to_vec())
            .map_err(|e| b.param_err("CSVData", format!("The CSV is not UTF-8: {e}")))?,
        Some(Value::Str(s)) => s.clone(),
        Some(Value::Array(lines)) => lines
            .iter()
            .map(Value::display)
            .collect::<Vec<_>>()
            .join("\n"),
        Some(other) => {
            return Err(b.param_err(
                "CSVData",
                format!(
                    "The CSV's bytes or text are expected, not {}.",
                    describe(other)
                ),
            ));
        }
    };
    Ok(text.trim_start_matches('\u{feff}').to_string())
}

fn new_migration_batch(shell: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    let name = b.required("Name")?;
    let source_endpoint = b.required("SourceEndpoint")?;
    // Without -CSVData, the organization from the endpoint's directory, as Exchange's
    // cutover reads it from Active Directory; without a directory, -CSVData is needed.
    let has_directory = b.value("CSVData").is_none()
        && shell
            .block(shell.ctx.store.endpoint_directory(&source_endpoint))
            .is_ok_and(|d| d.is_some());
    let users = if has_directory {
        batch::UsersCsv::AllMailboxes
    } else {
        batch::UsersCsv::Text {
            text: csv_data(b)?,
            origin: "-CSVData".into(),
        }
    };
    let folder_map = b
        .strings("FolderMap")?
        .iter()
        .map(|s| {
            s.parse::<cutover_model::FolderMapEntry>()
                .map_err(|e| b.param_err("FolderMap", e))
        })
        .collect::<PsResult<Vec<_>>>()?;
    let p = batch::NewBatch {
        name,
        source_endpoint,
        skip_domain_check: b.switch("SkipDomainCheck") || env_flag("CUTOVER_SKIP_DOMAIN_CHECK"),
        users,
        auto_start: b.switch("AutoStart"),
        bad_item_limit: b.number("BadItemLimit")?.unwrap_or(0),
        large_item_limit: b.number("LargeItemLimit")?.unwrap_or(0),
        exclude_folders: b.strings("ExcludeFolders")?,
        folder_map,
        incremental_interval: b.number("IncrementalSyncInterval")?.unwrap_or(24),
        removal_threshold: cutover_model::Batch::DEFAULT_REMOVAL_THRESHOLD_PERCENT,
        notification_emails: batch::notification_addresses(&b.strings("NotificationEmails")?)
            .map_err(|e| b.param_err("NotificationEmails", e))?,
        report_interval: cutover_model::Batch::DEFAULT_REPORT_INTERVAL_HOURS as u32,
        skip_reports: b.switch("SkipReports"),
    };
    let r = shell
        .block(batch::new(shell.ctx, p))
        .map_err(|e| b.anyhow(e))?;
    Ok(objects("MigrationBatch", &[r], BATCH_VIEW))
}

fn get_migration_batch(shell: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    let name = b.string("Identity")?;
    let r = shell
        .block(batch::get(shell.ctx, name.as_deref()))
        .map_err(|e| b.anyhow(e))?;
    Ok(objects("MigrationBatch", &r, BATCH_VIEW))
}

fn start_migration_batch(shell: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    let name = b.required("Identity")?;
    shell
        .block(batch::start_named(shell.ctx, &name))
        .map_err(|e| b.anyhow(e))?;
    // Like Exchange's, the cmdlet outputs nothing; Get-MigrationBatch shows the status.
    Ok(Vec::new())
}

fn stop_migration_batch(shell: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    let name = b.required("Identity")?;
    shell
        .block(batch::stop(shell.ctx, &name))
        .map_err(|e| b.anyhow(e))?;
    Ok(Vec::new())
}

fn set_migration_batch(shell: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    let name = b.required("Identity")?;
    let bad = b.number("BadItemLimit")?;
    let large = b.number("LargeItemLimit")?;
    let notification_emails = match b.value("NotificationEmails") {
        None => None,
        Some(_) => Some(
            batch::notification_addresses(&b.strings("NotificationEmails")?)
                .map_err(|e| b.param_err("NotificationEmails", e))?,
        ),
    };
    let skip_reports = b.has("SkipReports").then(|| b.switch("SkipReports"));
    let approve = b.switch("ApproveSkippedItems");
    let sync_now = b.switch("SyncNow");
    let changes = cutover_service::control::BatchChanges {
        bad_item_limit: bad,
        large_item_limit: large,
        notification_emails,
        skip_reports,
        ..Default::default()
    };
    if changes.is_empty() && !approve && !sync_now {
        return Err(b.err(
            "InvalidArgument",
            format!("Nothing to change for batch '{name}': give -BadItemLimit, -LargeItemLimit, -NotificationEmails, -SkipReports, -ApproveSkippedItems or -SyncNow."),
        ));
    }
    let ctx = shell.ctx;
    if !changes.is_empty() {
        shell
            .block(batch::set(ctx, &name, changes))
            .map_err(|e| b.anyhow(e))?;
    }
    if approve {
        shell
            .block(batch::approve_skipped_items(ctx, &name))
            .map_err(|e| b.anyhow(e))?;
    }
    if sync_now {
        shell
            .block(batch::start_named(ctx, &name))
            .map_err(|e| b.anyhow(e))?;
    }
    Ok(Vec::new())
}

fn remove_migration_batch(shell: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    let name = b.required("Identity")?;
    shell
        .block(batch::remove(shell.ctx, &name, b.switch("Force")))
        .map_err(|e| b.anyhow(e))?;
    Ok(Vec::new())
}

fn complete_migration_batch(_: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    Err(b.err(
        "InvalidOperation",
        "A cutover batch is never completed: it stays Synced, re-syncing every 24 hours, until you \
         move MX and remove it with Remove-MigrationBatch (the mail stays on the target).",
    ))
}

fn get_migration_user(shell: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    let email = b.string("Identity")?;
    let batch_id = b.string("BatchId")?;
    let status: Option<UserStatus> = b.parsed("Status")?;
    let r = shell
        .block(user::get(
            shell.ctx,
            email.as_deref(),
            batch_id.as_deref(),
            status,
        ))
        .map_err(|e| b.anyhow(e))?;
    Ok(objects("MigrationUser", &r, USER_VIEW))
}

fn get_migration_user_statistics(
    shell: &mut Shell<'_>,
    b: &Bound,
    _: Vec<Value>,
) -> PsResult<Vec<Value>> {
    let email = b.required("Identity")?;
    let r = shell
        .block(user::stats(
            shell.ctx,
            &email,
            b.switch("IncludeSkippedItems"),
        ))
        .map_err(|e| b.anyhow(e))?;
    Ok(objects("MigrationUserStatistics", &[r], USER_STATS_VIEW))
}

fn get_migration_statistics(
    shell: &mut Shell<'_>,
    b: &Bound,
    _: Vec<Value>,
) -> PsResult<Vec<Value>> {
    let r = shell
        .block(user::statistics(shell.ctx))
        .map_err(|e| b.anyhow(e))?;
    Ok(vec![Value::object("MigrationStatistics", &r, None)])
}

/// `CUTOVER_SKIP_DOMAIN_CHECK=1` (or true, yes, on), as `batch new` reads it.
fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "y" | "on"
        )
    })
}

const ACCEPTED_DOMAIN_VIEW: &[&str] = &["DomainName", "Status", "TxtRecordValue"];

fn get_accepted_domain(shell: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    let name = b.string("Identity")?;
    let r = shell
        .block(domain::get(shell.ctx, name.as_deref()))
        .map_err(|e| b.anyhow(e))?;
    Ok(objects("AcceptedDomain", &r, ACCEPTED_DOMAIN_VIEW))
}

/// New-AcceptedDomain -Name N -DomainName D: the domain is added unverified; the object
/// carries the TXT record to publish (TxtRecordName, TxtRecordValue), and
/// `cutover domain verify D` looks for it (Exchange Online verifies domains in the
/// Microsoft 365 admin center, not in Exchange's cmdlets). An accepted domain is known
/// by its domain name here; -Name (Exchange's display name) is required, as in
/// Exchange, but not kept.
fn new_accepted_domain(shell: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    b.required("Name")?;
    let domain_name = b.required("DomainName")?;
    if let Some(t) = b.string("DomainType")?
        && !t.eq_ignore_ascii_case("Authoritative")
    {
        return Err(b.param_err(
            "DomainType",
            format!("'{t}': a cutover moves every mailbox of the domain to the target, so the domain is Authoritative there"),
        ));
    }
    let r = shell
        .block(domain::add(shell.ctx, &domain_name))
        .map_err(|e| b.anyhow(e))?;
    Ok(objects("AcceptedDomain", &[r], ACCEPTED_DOMAIN_VIEW))
}

fn remove_accepted_domain(shell: &mut Shell<'_>, b: &Bound, _: Vec<Value>) -> PsResult<Vec<Value>> {
    let name = b.required("Identity")?;
    shell
        .block(domain::remove(shell.ctx, &name))
        .map_err(|e| b.anyhow(e))?;
    Ok(Vec::new())
}

/// Connection parameters shared by Test-MigrationServerAvailability and
/// New-/Set-MigrationEndpoint.
macro_rules! connection_params {
    ($($extra:expr),* $(,)?) => {
        &[
            sw("IMAP"),
            sw("ExchangeOutlookAnywhere"),
            sw("Autodiscover"),
            val("RemoteServer"),
            val("Port"),
            val("Security"),
            val("Credentials"),
            val("EmailAddress"),
            val("Impersonation"),
            val("CaFile"),
            val("Compression"),
            val("DnsServer"),
            val("AutodiscoverPort"),
            val("AllowRedirect"),
            sw("AllowPlaintext"),
            val("Authentication"),
            val("OAuthProvider"),
            val("TenantId"),
            val("ApplicationId"),
            val("ClientSecretFile"),
            val("CertificateFile"),
            val("ServiceAccountKeyFile"),
            val("TokenUrl"),
            val("Scope"),
            $($extra),*
        ]
    };
}

const IDENTITY: Param = Param {
    name: "Identity",
    kind: Kind::Value,
    position: Some(0),
    mandatory: true,
};

static CMDLETS: &[Cmdlet] = &[
    Cmdlet {
        name: "Test-MigrationServerAvailability",
        params: connection_params!(),
        run: test_migration_server_availability,
        takes_input: false,
    },
    Cmdlet {
        name: "New-MigrationEndpoint",
        params: connection_params!(
            req("Name"),
            val("ConnectionSettings"),
            val("MaxConcurrentMigrations"),
            val("MaxConcurrentIncrementalSyncs"),
            sw("SkipVerification"),
        ),
        run: new_migration_endpoint,
        takes_input: false,
    },
    Cmdlet {
        name: "Get-MigrationEndpoint",
        params: &[pos0("Identity")],
        run: get_migration_endpoint,
        takes_input: false,
    },
    Cmdlet {
        name: "Set-MigrationEndpoint",
        params: &[
            IDENTITY,
            val("RemoteServer"),
            val("Port"),
            val("Security"),
            val("Credentials"),
            val("EmailAddress"),
            val("Impersonation"),
            val("CaFile"),
            val("Compression"),
            val("Authentication"),
            val("OAuthProvider"),
            val("TenantId"),
            val("ApplicationId"),
            val("ClientSecretFile"),
            val("CertificateFile"),
            val("ServiceAccountKeyFile"),
            val("TokenUrl"),
            val("Scope"),
            val("MaxConcurrentMigrations"),
            val("MaxConcurrentIncrementalSyncs"),
            sw("SkipVerification"),
        ],
        run: set_migration_endpoint,
        takes_input: false,
    },
    Cmdlet {
        name: "Remove-MigrationEndpoint",
        params: &[IDENTITY, sw("Confirm")],
        run: remove_migration_endpoint,
        takes_input: false,
    },
    Cmdlet {
        name: "New-MigrationBatch",
        params: &[
            req("Name"),
            req("SourceEndpoint"),
            val("CSVData"),
            sw("AutoStart"),
            val("BadItemLimit"),
            val("LargeItemLimit"),
            val("ExcludeFolders"),
            val("FolderMap"),
            val("IncrementalSyncInterval"),
            sw("SkipDomainCheck"),
            val("NotificationEmails"),
            sw("SkipReports"),
        ],
        run: new_migration_batch,
        takes_input: false,
    },
    Cmdlet {
        name: "Get-MigrationBatch",
        params: &[pos0("Identity")],
        run: get_migration_batch,
        takes_input: false,
    },
    Cmdlet {
        name: "Start-MigrationBatch",
        params: &[IDENTITY],
        run: start_migration_batch,
        takes_input: false,
    },
    Cmdlet {
        name: "Stop-MigrationBatch",
        params: &[IDENTITY, sw("Confirm")],
        run: stop_migration_batch,
        takes_input: false,
    },
    Cmdlet {
        name: "Set-MigrationBatch",
        params: &[
            IDENTITY,
            val("BadItemLimit"),
            val("LargeItemLimit"),
            val("NotificationEmails"),
            sw("SkipReports"),
            sw("ApproveSkippedItems"),
            sw("SyncNow"),
        ],
        run: set_migration_batch,
        takes_input: false,
    },
    Cmdlet {
        name: "Remove-MigrationBatch",
        params: &[IDENTITY, sw("Force"), sw("Confirm")],
        run: remove_migration_batch,
        takes_input: false,
    },
    Cmdlet {
        name: "Complete-MigrationBatch",
        params: &[pos0("Identity"), sw("Confirm")],
        run: complete_migration_batch,
        takes_input: true,
    },
    Cmdlet {
        name: "Get-MigrationUser",
        params: &[pos0("Identity"), val("BatchId"), val("Status")],
        run: get_migration_user,
        takes_input: false,
    },
    Cmdlet {
        name: "Get-MigrationUserStatistics",
        params: &[IDENTITY, sw("IncludeSkippedItems")],
        run: get_migration_user_statistics,
        takes_input: false,
    },
    Cmdlet {
        name: "Get-MigrationStatistics",
        params: &[],
        run: get_migration_statistics,
        takes_input: false,
    },
    Cmdlet {
        name: "Get-AcceptedDomain",
        params: &[pos0("Identity")],
        run: get_accepted_domain,
        takes_input: false,
    },
    Cmdlet {
        name: "New-AcceptedDomain",
        params: &[req("Name"), req("DomainName"), val("DomainType")],
        run: new_accepted_domain,
        takes_input: false,
    },
    Cmdlet {
        name: "Remove-AcceptedDomain",
        params: &[IDENTITY, sw("Confirm")],
        run: remove_accepted_domain,
        takes_input: false,
    },
    Cmdlet {
        name: "Get-MsolAccountSku",
        params: &[],
        run: super::licenses::get_msol_account_sku,
        takes_input: false,
    },
    Cmdlet {
        name: "Set-MsolUserLicense",
        params: &[
            req("UserPrincipalName"),
            val("AddLicenses"),
            val("RemoveLicenses"),
        ],
        run: super::licenses::set_msol_user_license,
        takes_input: false,
    },
    Cmdlet {
        name: "Get-MsolUser",
        params: &[
            pos0("UserPrincipalName"),
            sw("UnlicensedUsersOnly"),
            sw("All"),
        ],
        run: super::licenses::get_msol_user,
        takes_input: false,
    },
    Cmdlet {
        name: "Get-Credential",
        params: &[pos0("Credential"), val("UserName"), val("Message")],
        run: builtins::get_credential,
        takes_input: false,
    },
    Cmdlet {
        name: "Format-List",
        params: &[pos0("Property")],
        run: builtins::format_list,
        takes_input: true,
    },
    Cmdlet {
        name: "Format-Table",
        params: &[pos0("Property"), sw("AutoSize"), sw("Wrap")],
        run: builtins::format_table,
        takes_input: true,
    },
    Cmdlet {
        name: "Select-Object",
        params: &[
            pos0("Property"),
            val("First"),
            val("Last"),
            val("ExpandProperty"),
        ],
        run: builtins::select_object,
        takes_input: true,
    },
    Cmdlet {
        name: "Where-Object",
        params: &[pos0("FilterScript")],
        run: builtins::where_object,
        takes_input: true,
    },
    Cmdlet {
        name: "ForEach-Object",
        params: &[pos0("Process")],
        run: builtins::foreach_object,
        takes_input: true,
    },
    Cmdlet {
        name: "Write-Output",
        params: &[pos0("InputObject")],
        run: builtins::write_output,
        takes_input: true,
    },
    Cmdlet {
        name: "Write-Host",
        params: &[pos0("Object")],
        run: builtins::write_host,
        takes_input: false,
    },
    Cmdlet {
        name: "Get-Content",
        params: &[pos0("Path"), sw("Raw"), val("Encoding"), sw("AsByteStream")],
        run: builtins::get_content,
        takes_input: false,
    },
    Cmdlet {
        name: "Out-Null",
        params: &[],
        run: builtins::out_null,
        takes_input: true,
    },
    Cmdlet {
        name: "Get-Command",
        params: &[],
        run: builtins::get_command,
        takes_input: false,
    },
];

/// Short names PowerShell users type.
pub fn alias(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "fl" => "Format-List",
        "ft" => "Format-Table",
        "select" => "Select-Object",
        "where" | "?" => "Where-Object",
        "foreach" | "%" => "ForEach-Object",
        "echo" | "write" => "Write-Output",
        "gc" | "cat" | "type" => "Get-Content",
        "gcm" => "Get-Command",
        _ => return None,
    })
}

/// Every cmdlet's name (Get-Command).
pub fn names() -> Vec<&'static str> {
    CMDLETS.iter().map(|c| c.name).collect()
}
