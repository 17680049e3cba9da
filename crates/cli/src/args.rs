//! The command line, as design.md's contract names it. Each doc comment is the
//! command's `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use cutover_model::EmailAddress;

use crate::output::Format;

/// Move every mailbox of an organization from one mail system to another in one
/// cutover: test the source, create a migration endpoint, create and start one
/// cutover batch, watch it sync, keep it in incremental sync while MX moves, then
/// remove the batch.
/// The state URL as given; its Debug never shows a password.
#[derive(Clone)]
pub struct StateUrl(String);

impl StateUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for StateUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StateUrl")
            .field(&cutover_store::redact_url(&self.0))
            .finish()
    }
}

impl std::str::FromStr for StateUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_string()))
    }
}

#[derive(Debug, Parser)]
#[command(name = "cutover", version, propagate_version = true)]
pub struct Cli {
    /// Where the state lives: sqlite://PATH, or postgres://USER@HOST[:PORT]/DATABASE (give
    /// its password in CUTOVER_STATE, PGPASSWORD or ~/.pgpass, not on the command line).
    // hide_env_values: `--help` would print the URL, its password with it.
    #[arg(
        long,
        global = true,
        env = "CUTOVER_STATE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub state: Option<StateUrl>,
    /// The key file that seals stored passwords (default: the SQLite database path +
    /// ".key"; required with PostgreSQL).
    #[arg(long, global = true, env = "CUTOVER_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum)]
    pub format: Option<Format>,
    /// Properties to show, comma-separated, with * wildcards (e.g. 'Status,Max*').
    #[arg(long, global = true, value_delimiter = ',', value_name = "PROPS")]
    pub select: Vec<String>,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The target organization: the IMAP server mailboxes move to.
    #[command(subcommand)]
    Target(TargetCommand),
    /// Migration endpoints: stored connections to the source system.
    #[command(subcommand)]
    Endpoint(Box<EndpointCommand>),
    /// The cutover batch: every mailbox, moved together.
    #[command(subcommand)]
    Batch(BatchCommand),
    /// Migration users: one mailbox each.
    #[command(subcommand)]
    User(UserCommand),
    /// The scheduler's jobs: which worker runs which mailbox, what waits to try again.
    #[command(subcommand)]
    Job(JobCommand),
    /// The source organization's directory (LDAP) of an endpoint: its recipients, and a
    /// test of its settings.
    #[command(subcommand)]
    Directory(DirectoryCommand),
    /// Test a source server (Test-MigrationServerAvailability): connect with strict TLS,
    /// and open a mailbox as the admin acting for its owner.
    TestServer(Box<TestServerArgs>),
    /// The cmdlet shell: New-MigrationEndpoint, Get-MigrationBatch | Format-List, ... in
    /// the subset of PowerShell the migration walkthrough uses. Interactive on a terminal;
    /// `-c 'COMMANDS'` or a FILE.ps1 runs non-interactively.
    Ps(PsArgs),
    /// Accepted domains (New-/Get-/Remove-AcceptedDomain): a mailbox migrates only when
    /// its primary SMTP domain is accepted and verified by a TXT record.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// DNS during the cutover: MX (has it moved to the target?), Autodiscover, the
    /// verification TXT records.
    #[command(subcommand)]
    Dns(DnsCommand),
    /// Do the due work in the foreground, with progress bars on a terminal.
    Run {
        /// Run the passes that are due now, then exit.
        #[arg(long)]
        once: bool,
    },
    /// A worker without the API: runs due jobs of every batch beside any number of other
    /// workers (`cutover worker`, `cutover serve`, `cutover run`) on the same state, until
    /// SIGTERM or Ctrl-C. Limits (MaxConcurrentMigrations, …) hold across all of them.
    Worker {
        /// Jobs this process runs at most at once (default 256; the batches' limits and the
        /// memory budget bound it too).
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
    },
    /// Run as a service: the workers (as `run` does) and the HTTP API with the dashboard,
    /// until SIGTERM or Ctrl-C. The API needs a bearer token, made on first start into
    /// a 0600 file beside the state (STATE.api-token; with PostgreSQL beside the key file,
    /// KEY_FILE.api-token) unless --token-file names one.
    Serve(ServeArgs),
    /// The state database itself, for support and tests: everything it holds as text,
    /// and a check of the rules it keeps.
    #[command(subcommand)]
    State(StateCommand),
    /// The completeness proof: every message of every folder on both servers, the ones
    /// that differ each explained, signed with this installation's key.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Notification e-mails: the SMTP relay that carries them (set once for the
    /// installation), and a test mail. Each batch names its recipients with
    /// --notification-emails.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Licenses (the seed's Section 7): a provisioned user without a license loses its
    /// login on the target when the grace period (30 days by default) ends; a license
    /// gives it back.
    #[command(subcommand)]
    License(LicenseCommand),
}

#[derive(Debug, Subcommand)]
pub enum LicenseCommand {
    /// License SKUs: add one with its units, change its units, show them
    /// (Get-MsolAccountSku).
    #[command(subcommand)]
    Sku(LicenseSkuCommand),
    /// Give USER (its address) the SKU (Set-MsolUserLicense -AddLicenses); a login
    /// disabled for want of a license is given back at once.
    Assign {
        /// The user's address (its primary SMTP address, its ID on the target).
        user: String,
        /// The SKU's name (any case).
        sku: String,
    },
    /// Take the SKU from USER (Set-MsolUserLicense -RemoveLicenses); without another
    /// license its login is disabled once its grace period (counted from its
    /// provisioning) is over.
    Unassign {
        /// The user's address.
        user: String,
        /// The SKU's name (any case).
        sku: String,
    },
    /// Each provisioned user: its licenses, or unlicensed with the days left of its grace
    /// period, or its login disabled (Get-MsolUser).
    Get {
        /// Only this user.
        user: Option<String>,
        /// Only users without a license (Get-MsolUser -UnlicensedUsersOnly).
        #[arg(long)]
        unlicensed_only: bool,
    },
    /// The grace period: how long a provisioned user may stay without a license.
    #[command(subcommand)]
    Grace(LicenseGraceCommand),
    /// Apply the grace period now (the scheduler does every 30 s): disable the logins
    /// whose grace period is over, give back those of licensed users.
    Enforce,
}

#[derive(Debug, Subcommand)]
pub enum LicenseSkuCommand {
    /// Add a SKU; --units: how many users it can license (default: as many as needed).
    Add {
        /// The SKU's name (e.g. E3, ENTERPRISEPACK).
        name: String,
        /// How many users it can license.
        #[arg(long, value_name = "N")]
        units: Option<u64>,
    },
    /// Change a SKU's units (never below the units assigned); --unlimited: no limit.
    Set {
        /// The SKU's name (any case).
        name: String,
        /// How many users it can license from now on.
        #[arg(long, value_name = "N", required_unless_present = "unlimited")]
        units: Option<u64>,
        /// As many users as needed.
        #[arg(long, conflicts_with = "units")]
        unlimited: bool,
    },
    /// Show one SKU or all of them, with their units and how many are assigned.
    Get {
        /// Only this SKU.
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum LicenseGraceCommand {
    /// Set it: days (30), or with a unit: 30d, 12h, 90m, 45s (short ones to try the
    /// enforcement out).
    Set {
        /// Days (30), or a number with d, h, m or s (12h, 90s).
        #[arg(value_name = "DAYS")]
        period: String,
    },
    /// Show it.
    Get,
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Set the SMTP relay (replaces the one set before). Not tested here: `cutover notify
    /// test ADDRESS` sends a test mail through it.
    Set(NotifySetArgs),
    /// Show the SMTP relay (never its password).
    Show,
    /// Send a test mail to ADDRESS through the relay.
    Test {
        /// Where the test mail goes.
        #[arg(value_parser = parse_address)]
        address: EmailAddress,
    },
}

#[derive(Debug, Args)]
pub struct NotifySetArgs {
    /// The relay's host name (its certificate must name it).
    #[arg(long, value_name = "HOST")]
    pub smtp_host: String,
    /// The relay's port (default: 587 for starttls, 465 for implicit, 25 for none).
    #[arg(long, value_name = "PORT")]
    pub smtp_port: Option<u16>,
    /// starttls (STARTTLS required before the login), implicit (TLS from the first byte,
    /// SMTPS) or none (plain SMTP, only without a login or on loopback).
    #[arg(long, default_value = "starttls", value_parser = ["starttls", "implicit", "none"])]
    pub tls: String,
    /// The sender of the notification mails.
    #[arg(long, value_name = "ADDRESS", value_parser = parse_address)]
    pub from: EmailAddress,
    /// The login at the relay (AUTH PLAIN or LOGIN); its password from --password-file,
    /// --password-env or the prompt.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// PEM file of a private CA that signed the relay's certificate, trusted besides the
    /// public ones.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Address and port of the HTTP API and dashboard; anything but loopback needs
    /// --tls-cert and --tls-key (or --insecure-http).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// The file holding the API's bearer token (created, 0600, if missing).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address anyway (the token and the data cross
    /// the network in clear).
    #[arg(long)]
    pub insecure_http: bool,
}

#[derive(Debug, Args, Clone)]
pub struct PsArgs {
    /// Run these commands, then exit.
    #[arg(
        short = 'c',
        long = "command",
        value_name = "COMMANDS",
        conflicts_with = "file"
    )]
    pub command: Option<String>,
    /// A script to run (Get-Credential reads CUTOVER_CREDENTIAL_USER and
    /// CUTOVER_CREDENTIAL_PASSWORD or CUTOVER_CREDENTIAL_PASSWORD_FILE when there is no
    /// terminal to prompt on).
    #[arg(value_name = "FILE.ps1")]
    pub file: Option<PathBuf>,
}

/// Where a password comes from. Never a plain argument: it would show in `ps` and
/// in shell history.
#[derive(Debug, Args, Clone)]
pub struct PasswordArgs {
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
    pub password_env: Option<String>,
    /// Read the password from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// OAuth 2.0 sign-in as a registered application (`--auth oauth2`): a token per
/// mailbox (or per application), sent with OAUTHBEARER or XOAUTH2.
#[derive(Debug, Args, Clone, Default)]
pub struct OAuthArgs {
    /// How to sign in: password (the admin's password, with --impersonation) or oauth2
    /// (an application's tokens; give --oauth-provider and its settings).
    #[arg(long, value_name = "password|oauth2", default_value = "password")]
    pub auth: String,
    /// microsoft (Microsoft 365: --tenant, --client-id, and --client-secret-file or
    /// --certificate-file), google (Google Workspace: --service-account-key) or generic
    /// (--token-url, --client-id, --client-secret-file, --scope).
    #[arg(long, value_name = "PROVIDER")]
    pub oauth_provider: Option<String>,
    /// Microsoft: the tenant id, or its domain (contoso.onmicrosoft.com).
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// The application (client) id; Google: read from the key when not given.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// The token endpoint, when not the provider's (sovereign clouds, tests; generic).
    #[arg(long, value_name = "URL")]
    pub token_url: Option<String>,
    /// The scope, when not the provider's. Generic: `{user}` in it asks for one token
    /// per mailbox (e.g. 'mail:{user}').
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
    #[command(flatten)]
    pub secret: OAuthSecretArgs,
}

/// `endpoint set`'s OAuth changes: each given setting replaces the stored one.
#[derive(Debug, Args, Clone, Default)]
pub struct OAuthChangeArgs {
    /// password or oauth2.
    #[arg(long, value_name = "password|oauth2")]
    pub auth: Option<String>,
    #[arg(long, value_name = "PROVIDER")]
    pub oauth_provider: Option<String>,
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    #[arg(long, value_name = "URL")]
    pub token_url: Option<String>,
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
    #[command(flatten)]
    pub secret: OAuthSecretArgs,
}

impl OAuthChangeArgs {
    /// Whether a setting (not only a secret) changes.
    pub fn changes_settings(&self) -> bool {
        self.auth.is_some()
            || self.oauth_provider.is_some()
            || self.tenant.is_some()
            || self.client_id.is_some()
            || self.token_url.is_some()
            || self.scope.is_some()
    }
}

/// Where the application's secret comes from. Never a plain argument.
#[derive(Debug, Args, Clone, Default)]
pub struct OAuthSecretArgs {
    /// Read the client secret from the first line of this file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["client_secret_env", "certificate_file", "service_account_key"])]
    pub client_secret_file: Option<PathBuf>,
    /// Read the client secret from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with_all = ["certificate_file", "service_account_key"])]
    pub client_secret_env: Option<String>,
    /// Microsoft: a PEM file with the certificate uploaded to the application and its
    /// private key (instead of a client secret).
    #[arg(long, value_name = "PEM", conflicts_with = "service_account_key")]
    pub certificate_file: Option<PathBuf>,
    /// Google: the service account's JSON key file.
    #[arg(long, value_name = "FILE")]
    pub service_account_key: Option<PathBuf>,
}

impl OAuthSecretArgs {
    pub fn given(&self) -> bool {
        self.client_secret_file.is_some()
            || self.client_secret_env.is_some()
            || self.certificate_file.is_some()
            || self.service_account_key.is_some()
    }
}

#[derive(Debug, Args, Clone)]
pub struct ServerArgs {
    /// Host name or address of the IMAP server (not with --autodiscover).
    #[arg(long)]
    pub server: Option<String>,
    /// IMAP port (143 for none/starttls, 993 for tls by default). With --autodiscover:
    /// the port to try on guessed host names instead of 993 and 143.
    #[arg(long)]
    pub port: Option<u16>,
    /// Connection security: none, starttls or tls (default tls).
    #[arg(long)]
    pub security: Option<String>,
    /// The admin account that acts for every user (with --auth oauth2 it is only shown;
    /// the application's client id by default).
    #[arg(long)]
    pub admin: Option<String>,
    #[command(flatten)]
    pub password: PasswordArgs,
    #[command(flatten)]
    pub oauth: OAuthArgs,
    /// How the admin opens a user's mailbox: authzid (SASL PLAIN authorization identity),
    /// template:'{user}*{admin}' (a LOGIN name such as Dovecot's master user form), or
    /// per-user (each user's own password from the users CSV).
    #[arg(long, default_value = "authzid")]
    pub impersonation: String,
    /// PEM file of a private CA to trust besides the public ones.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// COMPRESS=DEFLATE: auto (off on loopback; elsewhere on where copies measure that it
    /// moves mail faster), on or off.
    /// CUTOVER_COMPRESSION sets it for every new endpoint and target (benchmarks).
    #[arg(long, default_value = "auto", env = "CUTOVER_COMPRESSION")]
    pub compression: String,
    /// A mailbox to open as a test of the admin's impersonation right.
    #[arg(long, value_name = "ADDRESS")]
    pub test_mailbox: Option<String>,
    /// Store the settings without testing them.
    #[arg(long)]
    pub skip_verification: bool,
}

/// Which DNS server answers: the system's resolver unless one is given.
#[derive(Debug, Args, Clone, Default)]
pub struct DnsArgs {
    /// Ask this DNS server (IP or IP:PORT; port 53 by default) instead of the system's
    /// resolver, for every name: SRV/MX/TXT/CNAME records, the HTTPS autodiscover hosts
    /// and the IMAP host found.
    #[arg(long, value_name = "IP:PORT", value_parser = parse_dns_server)]
    pub dns_server: Option<std::net::SocketAddr>,
}

pub(crate) fn parse_dns_server(s: &str) -> Result<std::net::SocketAddr, String> {
    cutover_discover::dns::parse_server(s)
}

/// Finding the server from an address (Test-MigrationServerAvailability -Autodiscover).
#[derive(Debug, Args, Clone, Default)]
pub struct AutodiscoverArgs {
    /// Find the server's IMAP settings from --email: RFC 6186 SRV records, Mozilla
    /// autoconfig, Microsoft Autodiscover (POX), then host names guessed from MX.
    #[arg(long, requires = "email", conflicts_with = "server")]
    pub autodiscover: bool,
    /// The address to discover the settings for (usually the admin's).
    #[arg(long, value_name = "ADDRESS", requires = "autodiscover")]
    pub email: Option<String>,
    /// HTTPS port of autoconfig.DOMAIN, DOMAIN and autodiscover.DOMAIN (the
    /// _autodiscover._tcp SRV record brings its own port).
    #[arg(long, value_name = "PORT", default_value_t = 443)]
    pub autodiscover_port: u16,
    /// Let Autodiscover send the admin's login to HOST although it is outside the
    /// address's domain (an `_autodiscover._tcp` SRV record or a redirect to a hoster's
    /// Autodiscover service). Without it the login goes only to the domain's own hosts.
    /// Repeatable or comma-separated.
    #[arg(long, value_name = "HOST", value_delimiter = ',', value_parser = parse_host,
          requires = "autodiscover")]
    pub allow_redirect: Vec<String>,
    /// Use IMAP settings found without TLS (plain IMAP on 143): the admin's password
    /// then crosses the network in clear. Without it such settings are not used.
    #[arg(long, requires = "autodiscover")]
    pub allow_plaintext: bool,
    #[command(flatten)]
    pub dns: DnsArgs,
}

/// A notification address.
pub(crate) fn parse_address(s: &str) -> Result<EmailAddress, String> {
    s.parse::<EmailAddress>().map_err(|e| e.to_string())
}

/// A host name as `--allow-redirect` takes it: no scheme, port, path or user.
pub(crate) fn parse_host(s: &str) -> Result<String, String> {
    let host = s.trim().trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.contains(['/', ':', '@', ' ']) {
        return Err(format!(
            "'{s}' is not a host name (e.g. autodiscover.hoster.example, without https:// or a port)"
        ));
    }
    Ok(host)
}

#[derive(Debug, Args, Clone)]
pub struct TestServerArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub discover: AutodiscoverArgs,
    /// The mailbox to open as the admin (the FullAccess / impersonation right).
    #[arg(long, value_name = "ADDRESS")]
    pub mailbox: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TargetCommand {
    /// Set the target server and its admin (tests the connection first).
    Set(Box<TargetSetArgs>),
    /// Show the target settings.
    Get,
}

#[derive(Debug, Args)]
pub struct TargetSetArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// How the target compares folder names: `sensitive` (Dovecot, Cyrus: "Projects" and
    /// "projects" are two folders), `insensitive` (Exchange, Microsoft 365: one, so the
    /// second source folder gets " (2)"), or `auto`: the first pass asks the server and
    /// remembers its answer.
    #[arg(long, default_value = "auto", value_parser = ["auto", "sensitive", "insensitive"])]
    pub folder_case: String,
    /// The target organization's directory (LDAP), read by preflight for the recipients
    /// and addresses the target already holds, and where the license enforcement
    /// disables and enables logins (`cutover license`): --directory URL --directory-base
    /// DN --directory-bind DN and its password, as on `endpoint new`.
    #[command(flatten)]
    pub directory: DirectoryArgs,
    /// Provision the organization into the target's directory: a batch made with
    /// --all-mailboxes creates its users (ID and primary address: the source's primary
    /// SMTP address; the other addresses aliases, initial passwords in the batch's
    /// report), mail users, contacts and groups there before their first pass, and
    /// follows the source's changes at each incremental pass. The bind needs write access.
    #[arg(long, requires = "directory")]
    pub directory_provision: bool,
    #[command(flatten)]
    pub dav: DavArgs,
}

/// The side's CalDAV/CardDAV server: with one on the endpoint and on the target, a
/// batch copies every user's calendars, contacts and tasks beside their mail. On
/// `endpoint set`, what is not given is kept.
#[derive(Debug, Args, Clone, Default)]
pub struct DavArgs {
    /// The DAV server's base URL (https://; http:// only on loopback); the CalDAV and
    /// CardDAV paths are found from it (/.well-known/caldav, /.well-known/carddav).
    #[arg(long, value_name = "URL")]
    pub dav_url: Option<String>,
    /// Find each user's DAV server from their address instead (RFC 6764): the SRV record
    /// _caldavs._tcp.DOMAIN, else https://DOMAIN/ with its well-known URIs.
    #[arg(long, conflicts_with = "dav_url")]
    pub dav_discover: bool,
    /// The DNS server (IP or IP:PORT) for --dav-discover's SRV look-ups; the system's
    /// resolver by default.
    #[arg(long, value_name = "IP:PORT", requires = "dav_discover")]
    pub dav_dns_server: Option<String>,
    /// PEM file of a private CA that signed the DAV server's certificate.
    #[arg(long, value_name = "PEM")]
    pub dav_ca_file: Option<PathBuf>,
    /// How users sign in to the DAV server: per-user (each user's password from the
    /// users CSV; Radicale and Xandikos have no admin that can act for a user).
    #[arg(long, value_name = "MODE")]
    pub dav_auth: Option<String>,
}

impl DavArgs {
    /// Whether any DAV option was given.
    pub fn given(&self) -> bool {
        self.dav_url.is_some()
            || self.dav_discover
            || self.dav_ca_file.is_some()
            || self.dav_auth.is_some()
    }
}

/// The source organization's directory (LDAP: Active Directory or OpenLDAP), read for
/// its mailboxes, mail users, contacts and groups. On `endpoint set`, what is not
/// given is kept.
#[derive(Debug, Args, Clone, Default)]
pub struct DirectoryArgs {
    /// The directory server: ldap://HOST:PORT (with --directory-starttls) or
    /// ldaps://HOST:PORT.
    #[arg(long, value_name = "URL")]
    pub directory: Option<String>,
    /// Where the search starts (e.g. DC=contoso,DC=com).
    #[arg(long, value_name = "DN")]
    pub directory_base: Option<String>,
    /// Who binds (e.g. CN=migrator,CN=Users,DC=contoso,DC=com).
    #[arg(long, value_name = "DN")]
    pub directory_bind: Option<String>,
    /// Read the bind password from the first line of this file.
    #[arg(long, value_name = "FILE", conflicts_with = "directory_password_env")]
    pub directory_password_file: Option<PathBuf>,
    /// Read the bind password from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub directory_password_env: Option<String>,
    /// Upgrade the ldap:// connection with StartTLS before binding (`false` to stop).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub directory_starttls: Option<bool>,
    /// PEM file with the CA that signed the directory's certificate (a private CA).
    #[arg(long, value_name = "PEM")]
    pub directory_ca_file: Option<PathBuf>,
    /// The attribute names: active-directory (the default) or openldap.
    #[arg(long, value_name = "PROFILE")]
    pub directory_profile: Option<String>,
    /// Read a field from other attributes than the profile's, e.g.
    /// aliases=otherMailbox or delegates= (not read); repeatable.
    #[arg(long = "directory-attribute", value_name = "NAME=ATTR")]
    pub directory_attributes: Vec<String>,
}

impl DirectoryArgs {
    /// Whether any directory option was given.
    pub fn given(&self) -> bool {
        self.directory.is_some()
            || self.directory_base.is_some()
            || self.directory_bind.is_some()
            || self.directory_password_file.is_some()
            || self.directory_password_env.is_some()
            || self.directory_starttls.is_some()
            || self.directory_ca_file.is_some()
            || self.directory_profile.is_some()
            || !self.directory_attributes.is_empty()
    }
}

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// List the source organization's recipients (Get-Recipient): mailboxes, mail users,
    /// contacts and groups, with their RecipientType, addresses and member counts.
    Get {
        /// The endpoint whose directory to read.
        endpoint: String,
        /// Only this kind: Mailbox, MailUser, MailContact, DistributionGroup or
        /// SecurityGroup (or Exchange's RecipientType).
        #[arg(long)]
        kind: Option<String>,
        /// Show each group's member DNs, not only their count.
        #[arg(long)]
        members: bool,
    },
    /// Test the endpoint's directory: connect with strict TLS, bind, read the base DN,
    /// count the recipients.
    Test {
        /// The endpoint whose directory to test.
        endpoint: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// Create a migration endpoint (New-MigrationEndpoint); tests the connection and
    /// the admin's impersonation unless --skip-verification.
    New {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        server: Box<ServerArgs>,
        #[command(flatten)]
        discover: AutodiscoverArgs,
        /// Mailboxes migrated at the same time (initial sync).
        #[arg(long, default_value_t = 100)]
        max_concurrent_migrations: u32,
        /// Mailboxes in incremental sync at the same time (at most the above).
        #[arg(long, default_value_t = 20)]
        max_concurrent_incremental_syncs: u32,
        #[command(flatten)]
        directory: Box<DirectoryArgs>,
        #[command(flatten)]
        dav: Box<DavArgs>,
    },
    /// Show one endpoint or all of them.
    Get { name: Option<String> },
    /// Change an endpoint's settings (Set-MigrationEndpoint).
    Set {
        name: String,
        #[arg(long)]
        server: Option<String>,
        #[arg(long)]
        port: Option<u16>,
        #[arg(long)]
        security: Option<String>,
        #[arg(long)]
        admin: Option<String>,
        #[command(flatten)]
        password: PasswordArgs,
        /// Switch sign-in (password or oauth2), or change the OAuth application's
        /// settings and secret; what is not given is kept.
        #[command(flatten)]
        oauth: Box<OAuthChangeArgs>,
        #[arg(long)]
        impersonation: Option<String>,
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        /// COMPRESS=DEFLATE: auto, on or off.
        #[arg(long)]
        compression: Option<String>,
        #[arg(long)]
        max_concurrent_migrations: Option<u32>,
        #[arg(long)]
        max_concurrent_incremental_syncs: Option<u32>,
        #[arg(long, value_name = "ADDRESS")]
        test_mailbox: Option<String>,
        #[arg(long)]
        skip_verification: bool,
        #[command(flatten)]
        directory: Box<DirectoryArgs>,
        /// The endpoint no longer reads a source directory.
        #[arg(long, conflicts_with = "directory")]
        remove_directory: bool,
        #[command(flatten)]
        dav: Box<DavArgs>,
        /// The endpoint no longer has a DAV server (batches move mail only).
        #[arg(long, conflicts_with_all = ["dav_url", "dav_discover", "dav_ca_file", "dav_auth"])]
        remove_dav: bool,
    },
    /// Remove an endpoint no batch uses.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Create the cutover batch (New-MigrationBatch). Only one may exist at a time.
    New {
        #[arg(long)]
        name: String,
        /// The endpoint of the source system.
        #[arg(long)]
        source_endpoint: String,
        /// The users CSV: header EmailAddress,UserName,Password. Without it, the batch
        /// is every recipient of the endpoint's directory (--all-mailboxes).
        #[arg(long, value_name = "FILE", conflicts_with = "all_mailboxes")]
        users_csv: Option<PathBuf>,
        /// Every mailbox, mail user, contact and mail-enabled group of the endpoint's
        /// directory, each with its kind (the default when no --users-csv is given).
        #[arg(long)]
        all_mailboxes: bool,
        /// Start the batch right away.
        #[arg(long)]
        auto_start: bool,
        /// Create it even for users whose domain is not an accepted, verified domain (a
        /// lab or a benchmark, not a real cutover; `CUTOVER_SKIP_DOMAIN_CHECK=1` too).
        #[arg(long, env = "CUTOVER_SKIP_DOMAIN_CHECK",
              value_parser = clap::builder::BoolishValueParser::new())]
        skip_domain_check: bool,
        /// Bad items a user may skip before failing.
        #[arg(long, default_value_t = 0)]
        bad_item_limit: u32,
        /// Large items a user may skip before failing.
        #[arg(long, default_value_t = 0)]
        large_item_limit: u32,
        /// Source folders to leave out, comma-separated (subfolders go with them).
        /// Folders the source flags \All (Gmail's "All Mail") or \Flagged (virtual
        /// "Starred") are always left out, as they repeat messages of other folders;
        /// name one in --folder-map to copy it anyway.
        #[arg(long, value_delimiter = ',', value_name = "A,B")]
        exclude_folders: Vec<String>,
        /// Where a source folder goes on the target, 'Source Name=Target Name', with '/'
        /// between levels on both sides; repeat it or separate entries with commas.
        /// Subfolders follow. Applied before the automatic mapping of special folders
        /// (the source's Sent, Drafts, Trash, Junk and Archive go to the target's, found
        /// by RFC 6154 attribute or by common English, French, German or Spanish name).
        #[arg(long, value_delimiter = ',', value_name = "SOURCE=TARGET")]
        folder_map: Vec<cutover_model::FolderMapEntry>,
        /// Hours between incremental syncs once the initial sync is done.
        #[arg(long, default_value_t = 24, value_name = "HOURS")]
        incremental_interval: u32,
        /// The brake on mass removal: a pass that would remove from the target more than
        /// this share of a mailbox's migrated messages (and at least 10), or a whole folder
        /// holding them, holds those removals until `cutover batch approve-removals`.
        #[arg(long, default_value_t = cutover_model::Batch::DEFAULT_REMOVAL_THRESHOLD_PERCENT,
              value_name = "PERCENT")]
        removal_threshold: u32,
        /// Who gets the batch's notification e-mails (-NotificationEmails), comma-separated:
        /// when the initial sync finishes, when users fail, and every --report-interval,
        /// with MigrationStatistics.csv and MigrationErrors.csv attached. Sent through the
        /// relay of `cutover notify set`; without addresses no mail is sent.
        #[arg(long, value_delimiter = ',', value_name = "A,B", value_parser = parse_address)]
        notification_emails: Vec<EmailAddress>,
        /// Hours between report mails while the batch runs (-ReportInterval).
        #[arg(long, default_value_t = 24, value_name = "HOURS")]
        report_interval: u32,
        /// No periodic report mails; the initial-sync and failure mails still go out
        /// (-SkipReports).
        #[arg(long)]
        skip_reports: bool,
    },
    /// Show one batch or all (Get-MigrationBatch).
    Get { name: Option<String> },
    /// Start the batch; on a Synced batch, ask for an incremental sync now.
    Start { name: String },
    /// Stop the batch's users.
    Stop { name: String },
    /// Change a batch's settings (Set-MigrationBatch); they apply from the next pass.
    Set {
        name: String,
        /// Bad items a user may skip before failing (counted over every pass).
        #[arg(long)]
        bad_item_limit: Option<u32>,
        /// Large items a user may skip before failing (counted over every pass).
        #[arg(long)]
        large_item_limit: Option<u32>,
        /// The brake on mass removal, in percent of a mailbox's migrated messages.
        #[arg(long, value_name = "PERCENT")]
        removal_threshold: Option<u32>,
        /// Replaces the notification addresses, comma-separated; '' stops the mails.
        #[arg(long, value_delimiter = ',', value_name = "A,B")]
        notification_emails: Option<Vec<String>>,
        /// Hours between report mails.
        #[arg(long, value_name = "HOURS")]
        report_interval: Option<u32>,
        /// true: no periodic report mails; false: send them again.
        #[arg(long, value_name = "true|false")]
        skip_reports: Option<bool>,
    },
    /// Approve every item the batch's users skipped so far (Set-MigrationBatch
    /// -ApproveSkippedItems): the batch is Synced again, and approved items no longer
    /// count against the limits. Items skipped later need a new approval.
    ApproveSkippedItems { name: String },
    /// Approve the removals the brake held (a pass that would have removed more than the
    /// batch's --removal-threshold of a mailbox, or a whole folder): the users' next pass
    /// makes them. Check the source first: the removals are what it reported.
    ApproveRemovals {
        name: String,
        /// Only this user's held removals.
        #[arg(long, value_name = "EMAIL")]
        user: Option<String>,
    },
    /// Preflight (the seed's Step 1): what must be fixed before the batch may start,
    /// read now from the source and target directories, the accepted domains and the
    /// batch; `batch start` runs it and refuses while a Blocking finding is left. Exit
    /// code 1 when one is.
    Preflight { name: String },
    /// The steps the next pass would take for each mailbox of the batch (folders created,
    /// renamed, deleted, subscriptions, flags, removals, copies, checkpoints), read from
    /// both servers and the state without changing anything. `--format json` for scripts.
    Plan {
        name: String,
        /// Only this user's mailbox.
        #[arg(long, value_name = "EMAIL")]
        user: Option<String>,
    },
    /// Write the batch's reports, as Exchange names them: MigrationStatistics.csv (one row
    /// per user: status, items in the source, synced, skipped, bytes, last sync, data
    /// consistency, error) and MigrationErrors.csv (one row per user that failed or has an
    /// error, and per skipped item, with folder, subject, kind and reason).
    Report {
        name: String,
        /// The directory to write them into (created if missing; default: the current
        /// directory). Files of the same names there are replaced.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Remove the batch and its users from the state (mail on the target stays). Refused
    /// until `cutover dns check` has seen MX point at the target and a sync ran after
    /// that; warns during the 72 hours after the switch.
    Remove {
        name: String,
        /// Remove even while the initial sync is not finished, or before the MX switch.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// List the jobs of every batch's round (or of one batch): Running on a worker,
    /// Waiting to try again, or Queued.
    Get {
        #[arg(long)]
        batch: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List migration users (Get-MigrationUser).
    Get {
        /// A user's address, to show just that user.
        email: Option<String>,
        #[arg(long)]
        batch: Option<String>,
        /// Only users in this status (Queued, Syncing, Synced, Failed, ...).
        #[arg(long)]
        status: Option<String>,
    },
    /// A user's statistics (Get-MigrationUserStatistics).
    Stats {
        email: String,
        /// List the messages that were skipped, with the reason.
        #[arg(long)]
        include_skipped_items: bool,
    },
    /// A user's report: its statistics (its row of the batch's MigrationStatistics.csv)
    /// and its errors and skipped items (its rows of MigrationErrors.csv).
    Report { email: String },
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Add an accepted domain; prints the TXT record to publish at the domain.
    Add { name: String },
    /// Show one accepted domain or all of them.
    Get { name: Option<String> },
    /// Look for the domain's TXT record and mark the domain verified when it is there.
    Verify {
        name: String,
        #[command(flatten)]
        dns: DnsArgs,
    },
    /// Remove an accepted domain.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// List every folder of the batch's mailboxes on both servers (reading only) and set
    /// them against what was copied: messages on both sides, and each one on one side
    /// only with why (skipped and the reason, arrived since the last pass, expunged on
    /// the source, removed or delivered on the target; "Missing" when nothing explains
    /// it). Written as a JSON document signed with the installation's Ed25519 key (a 0600
    /// file beside the state, STATE.signing-key, made on first use). Exits 1 when a
    /// message is missing or a mailbox could not be read.
    Proof {
        /// The batch.
        name: String,
        /// Only this user's mailbox.
        #[arg(long, value_name = "EMAIL")]
        user: Option<String>,
        /// Where to write the document (default: completeness-proof-BATCH.json).
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
    /// Check a proof: its content is what was signed, and the signature is good. Says
    /// whether this installation's key signed it; --public-key checks against another.
    Verify {
        file: std::path::PathBuf,
        /// The signer's public key (64 hex digits), as `report proof` printed it.
        #[arg(long, value_name = "HEX")]
        public_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print the whole state as text, one line per row sorted by natural keys: target,
    /// endpoints, accepted domains, MX checks, batches, users, folders, the message map,
    /// intents, skipped items, leases. Times show as <time>, random tokens and worker ids
    /// as <redacted>; passwords are never read, not even sealed. Two states that differ
    /// only in time give the same text.
    Dump,
    /// Check the state's invariants (no two messages on one target UID, no intent left
    /// by a finished pass, counters equal to the message map, ...): prints "state is
    /// consistent", or lists every violation and exits 1.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum DnsCommand {
    /// Report a domain's MX records (and whether they point to the target), its
    /// autodiscover CNAME, and, for an accepted domain, its verification TXT record.
    /// Remembers when MX was first seen pointing to the target (the MX switch).
    Check {
        #[arg(long)]
        domain: String,
        /// The target's MX host(s); remembered for the domain. Without it: the hosts
        /// given before, else the target server's host name.
        #[arg(long, value_name = "HOST", num_args = 1.., value_delimiter = ',')]
        expect_mx: Vec<String>,
        /// Where autodiscover.DOMAIN should point (a CNAME target).
        #[arg(long, value_name = "HOST")]
        expect_autodiscover: Option<String>,
        #[command(flatten)]
        dns: DnsArgs,
    },
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn allow_redirect_takes_host_names_only_and_needs_autodiscover() {
        assert_eq!(
            parse_host(" AD.Hoster.example. "),
            Ok("ad.hoster.example".into())
        );
        for bad in [
            "",
            "https://ad.hoster.example",
            "ad.hoster.example:443",
            "a@b",
        ] {
            assert!(parse_host(bad).is_err(), "{bad}");
        }
        let cli = Cli::try_parse_from([
            "cutover",
            "test-server",
            "--autodiscover",
            "--email",
            "admin@contoso.test",
            "--admin",
            "admin",
            "--allow-redirect",
            "a.hoster.example,B.hoster.example",
            "--allow-redirect",
            "c.hoster.example",
            "--allow-plaintext",
        ])
        .unwrap();
        let Command::TestServer(args) = cli.command else {
            panic!("test-server expected")
        };
        assert_eq!(
            args.discover.allow_redirect,
            ["a.hoster.example", "b.hoster.example", "c.hoster.example"]
        );
        assert!(args.discover.allow_plaintext);
        // Without --autodiscover there is nothing to allow.
        assert!(
            Cli::try_parse_from([
                "cutover",
                "test-server",
                "--server",
                "mail.contoso.test",
                "--admin",
                "admin",
                "--allow-redirect",
                "a.hoster.example",
            ])
            .is_err()
        );
    }
}
