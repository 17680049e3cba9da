//! The DAV options of `endpoint new|set` and `target set` (`--dav-url`, `--dav-ca-file`,
//! `--dav-auth`): checked settings, and the test that the server answers over strict TLS.

use anyhow::{Context, anyhow, bail};
use cutover_imap::TlsOptions;
use cutover_model::{DavAuth, DavSettings};

use crate::args::DavArgs;
use crate::output;

/// The settings the options give, over the `stored` ones (`endpoint set` keeps what is
/// not given); `None`: no DAV server.
pub fn settings_from_args(
    stored: Option<&DavSettings>,
    args: &DavArgs,
) -> anyhow::Result<Option<DavSettings>> {
    if !args.given() {
        return Ok(stored.cloned());
    }
    let (url, discover) = match (&args.dav_url, stored) {
        (Some(url), _) => (
            DavSettings::check_url(url).map_err(|e| anyhow!("--dav-url: {e}"))?,
            false,
        ),
        (None, _) if args.dav_discover => (String::new(), true),
        (None, Some(s)) => (s.url.clone(), s.discover),
        (None, None) => bail!(
            "--dav-ca-file and --dav-auth need --dav-url, the DAV server's base URL (e.g. https://dav.example.org/), or --dav-discover"
        ),
    };
    let dns_server = match &args.dav_dns_server {
        Some(server) => Some(
            cutover_discover::dns::parse_server(server.trim())
                .map_err(|e| anyhow!("--dav-dns-server: {e}"))?
                .to_string(),
        ),
        None if discover => stored.and_then(|s| s.dns_server.clone()),
        None => None,
    };
    let ca_file = match &args.dav_ca_file {
        Some(p) => Some(
            std::fs::canonicalize(p)
                .with_context(|| format!("--dav-ca-file {}: cannot read it", p.display()))?
                .display()
                .to_string(),
        ),
        None => stored.and_then(|s| s.ca_file.clone()),
    };
    let auth = match &args.dav_auth {
        Some(a) => a
            .parse::<DavAuth>()
            .map_err(|e| anyhow!("--dav-auth: {e}"))?,
        None => stored.map(|s| s.auth).unwrap_or_default(),
    };
    Ok(Some(DavSettings {
        url,
        ca_file,
        auth,
        discover,
        dns_server,
    }))
}

/// Tests that the DAV server answers at its URL over strict TLS (users sign in with
/// their own passwords, which only the batch's users CSV holds: the sign-in is tried by
/// the first pass).
pub async fn verify(side: &str, settings: &DavSettings) -> anyhow::Result<()> {
    if settings.discover {
        output::note(&format!(
            "the DAV server of {side} is found from each user's address at each pass (SRV _caldavs._tcp, then the domain's well-known URIs)"
        ));
        return Ok(());
    }
    let tls = TlsOptions {
        ca_file: settings.ca_file.as_ref().map(Into::into),
    };
    let status = cutover_dav::client::probe(&settings.url, &tls)
        .await
        .with_context(|| {
            format!(
                "the DAV server of {side} did not answer at {} (a private CA? give it with --dav-ca-file; \
                 use --skip-verification to store it anyway)",
                settings.url
            )
        })?;
    output::note(&format!(
        "DAV server of {side} answered at {} ({status}); users sign in with their passwords from the users CSV",
        settings.url
    ));
    Ok(())
}
