//! What can go wrong reading a directory, each naming the server and what to do.

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("directory settings: {0}")]
    Settings(String),
    #[error(
        "cannot reach the directory at {url}: {reason}; check the host and port of --directory"
    )]
    Connect { url: String, reason: String },
    #[error(
        "the directory at {url} presented a certificate that is not trusted ({reason}); \
         give the CA that signed it with --directory-ca-file PEM"
    )]
    UntrustedCertificate { url: String, reason: String },
    #[error("TLS with the directory at {url} failed: {reason}")]
    Tls { url: String, reason: String },
    #[error(
        "the directory at {url} refused the bind as '{bind_dn}' ({code}{text}); \
         check --directory-bind and the password (--directory-password-file or --directory-password-env)"
    )]
    BindRefused {
        url: String,
        bind_dn: String,
        code: String,
        text: String,
    },
    #[error(
        "the directory at {url} wants a protected connection before a bind ({text}); \
         use ldaps:// or --directory-starttls"
    )]
    StrongerAuthRequired { url: String, text: String },
    #[error(
        "the base DN '{base}' does not exist on the directory at {url}; \
         check --directory-base (the server knows '{matched}')"
    )]
    NoSuchBase {
        url: String,
        base: String,
        matched: String,
    },
    #[error("searching the directory at {url} under '{base}' failed: {reason}")]
    Search {
        url: String,
        base: String,
        reason: String,
    },
    #[error("cannot change the login of {user} on the directory at {url}: {reason}")]
    Login {
        url: String,
        user: String,
        reason: String,
    },
    #[error("the target's directory at {url} could not {what} '{dn}': {reason}")]
    Write {
        url: String,
        what: String,
        dn: String,
        reason: String,
    },
    #[error(
        "the directory at {url} sent the values of {attr} of '{dn}' out of order ({got}); \
         range retrieval cannot go on"
    )]
    RangeStuck {
        url: String,
        dn: String,
        attr: String,
        got: String,
    },
}

impl DirectoryError {
    /// Whether trying again later may go through (the network, a server that was busy
    /// or refused one write); settings, refused binds and untrusted certificates wait
    /// for the admin.
    pub fn may_pass(&self) -> bool {
        matches!(
            self,
            DirectoryError::Connect { .. }
                | DirectoryError::Search { .. }
                | DirectoryError::Write { .. }
        )
    }
}

/// LDAP result codes an admin can act on (RFC 4511, appendix A.1).
pub(crate) fn result_code_name(rc: u32) -> &'static str {
    match rc {
        1 => "operationsError",
        2 => "protocolError",
        4 => "sizeLimitExceeded",
        8 => "strongerAuthRequired",
        13 => "confidentialityRequired",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        65 => "objectClassViolation",
        68 => "entryAlreadyExists",
        _ => "error",
    }
}
