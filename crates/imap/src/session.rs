//! Connecting, and the mailbox-level commands (LIST, LSUB, SELECT/EXAMINE, CREATE,
//! SUBSCRIBE, STATUS, NOOP, LOGOUT).

use std::{borrow::Cow, fmt, str::FromStr, sync::Arc, time::Duration};

use imap_codec::{
    CommandCodec,
    encode::{Encoder, Fragment},
};
use imap_types::{
    command::{Command, CommandBody},
    core::LiteralMode,
    status::StatusDataItemName,
};
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tracing::debug;

use crate::{
    connection::{AsyncStream, Completion, Connection, Logging, Out},
    error::ImapError,
    limits::Limits,
    mailbox::{ListedMailbox, MailboxName},
    namespace::ListedStatuses,
    response::{Code, GreetingResp, StatusItem, StatusKind, Untagged},
    tls::{self, TlsOptions},
};

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Security {
    /// Plain text. Only sensible on loopback or trusted networks.
    None,
    /// Plain connect, then STARTTLS (RFC 3501 6.2.1) before anything else.
    StartTls,
    /// TLS from the first byte (usually port 993).
    Tls,
}

impl FromStr for Security {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Security::None),
            "starttls" => Ok(Security::StartTls),
            "tls" => Ok(Security::Tls),
            _ => Err(format!(
                "unknown security {s:?} (expected none, starttls or tls)"
            )),
        }
    }
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Security::None => "none",
            Security::StartTls => "starttls",
            Security::Tls => "tls",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerAddr {
    pub host: String,
    pub port: u16,
    pub security: Security,
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// What the server advertised, as sent (upper/lower case kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities(Vec<String>);

impl Capabilities {
    pub fn new(caps: Vec<String>) -> Self {
        Capabilities(caps)
    }

    /// Case-insensitive, e.g. `has("LITERAL+")`, `has("AUTH=PLAIN")`.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|c| c.eq_ignore_ascii_case(name))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// Result of SELECT or EXAMINE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedMailbox {
    pub uid_validity: u32,
    pub uid_next: Option<u32>,
    /// The EXISTS count; `None` when the reply lacked it (then nothing may be concluded
    /// from a listing's length, not even that the mailbox is empty).
    pub exists: Option<u32>,
    pub highest_modseq: Option<u64>,
    /// RFC 8474 MAILBOXID (servers with OBJECTID, such as Cyrus): the mailbox's identity,
    /// which survives a rename.
    pub mailbox_id: Option<String>,
}

/// Result of STATUS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxStatus {
    pub messages: u32,
    pub uid_next: Option<u32>,
    pub uid_validity: Option<u32>,
    pub highest_modseq: Option<u64>,
    /// The mailbox's size in octets (RFC 8438), from servers with STATUS=SIZE.
    pub size: Option<u64>,
}

/// A STATUS item's name on the wire, for the command lines written here
/// (LIST ... RETURN (STATUS (...)), which imap-codec has no type for).
pub(crate) fn status_item_name(item: &StatusDataItemName) -> &'static str {
    match item {
        StatusDataItemName::Messages => "MESSAGES",
        StatusDataItemName::Recent => "RECENT",
        StatusDataItemName::UidNext => "UIDNEXT",
        StatusDataItemName::UidValidity => "UIDVALIDITY",
        StatusDataItemName::Unseen => "UNSEEN",
        StatusDataItemName::Deleted => "DELETED",
        StatusDataItemName::DeletedStorage => "DELETED-STORAGE",
        StatusDataItemName::HighestModSeq => "HIGHESTMODSEQ",
        StatusDataItemName::Size => "SIZE",
    }
}

/// The STATUS answer for `name` among untagged responses (servers answer with the name
/// as they spell it; INBOX may differ in case).
pub(crate) fn status_of(name: &MailboxName, untagged: &[Untagged]) -> Option<MailboxStatus> {
    let mut found = None;
    for u in untagged {
        if let Untagged::Status { name: got, items } = u {
            if *got != *name && !(got.is_inbox() && name.is_inbox()) {
                continue;
            }
            let status = found.get_or_insert(MailboxStatus {
                messages: 0,
                uid_next: None,
                uid_validity: None,
                highest_modseq: None,
                size: None,
            });
            for item in items {
                match *item {
                    StatusItem::Messages(n) => status.messages = n,
                    StatusItem::UidNext(n) => status.uid_next = Some(n),
                    StatusItem::UidValidity(n) => status.uid_validity = Some(n),
                    StatusItem::HighestModSeq(n) => status.highest_modseq = Some(n),
                    StatusItem::Size(n) => status.size = Some(n),
                }
            }
        }
    }
    found
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    AlreadyExists,
}

/// What [`Session::set_up_folders`] does to one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderSetup {
    pub name: MailboxName,
    pub create: bool,
    /// `Some(true)`: SUBSCRIBE, `Some(false)`: UNSUBSCRIBE, `None`: neither.
    pub subscribe: Option<bool>,
}

/// One IMAP connection, authenticated or not. Commands run one at a time.
pub struct Session {
    pub(crate) conn: Connection<Box<dyn AsyncStream>>,
    pub(crate) caps: Capabilities,
    pub(crate) authenticated: bool,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("authenticated", &self.authenticated)
            .field("capabilities", &self.caps)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// TCP (10 s connect timeout), then TLS or STARTTLS as asked, the greeting, and the
    /// capabilities (from the greeting's code, else a CAPABILITY command), with
    /// [`Limits::default`]; [`Session::connect_limited`] takes others.
    pub async fn connect(addr: &ServerAddr, tls: &TlsOptions) -> Result<Session, ImapError> {
        Self::connect_limited(addr, &[], tls, Limits::default()).await
    }

    /// Like [`Session::connect`] with a prebuilt TLS configuration (required unless
    /// `addr.security` is `None`).
    pub async fn connect_with(
        addr: &ServerAddr,
        tls_config: Option<Arc<ClientConfig>>,
    ) -> Result<Session, ImapError> {
        Self::connect_inner(addr, &[], tls_config, Limits::default()).await
    }

    /// Like [`Session::connect`], to addresses resolved elsewhere (a chosen DNS server):
    /// TCP goes to `ips`, TLS is still verified against `addr.host`.
    pub async fn connect_to(
        addr: &ServerAddr,
        ips: &[std::net::IpAddr],
        tls: &TlsOptions,
    ) -> Result<Session, ImapError> {
        Self::connect_limited(addr, ips, tls, Limits::default()).await
    }

    /// Connects (to `ips` when given, else to `addr.host`) with these limits and
    /// timeouts, which then apply to the TLS handshake, the greeting and every command.
    pub async fn connect_limited(
        addr: &ServerAddr,
        ips: &[std::net::IpAddr],
        tls: &TlsOptions,
        limits: Limits,
    ) -> Result<Session, ImapError> {
        let config = match addr.security {
            Security::None => None,
            Security::StartTls | Security::Tls => Some(tls.client_config()?),
        };
        Self::connect_inner(addr, ips, config, limits).await
    }

    async fn connect_inner(
        addr: &ServerAddr,
        ips: &[std::net::IpAddr],
        tls_config: Option<Arc<ClientConfig>>,
        limits: Limits,
    ) -> Result<Session, ImapError> {
        let addr_text = addr.to_string();
        let resolved: Vec<std::net::SocketAddr> = ips
            .iter()
            .map(|ip| std::net::SocketAddr::new(*ip, addr.port))
            .collect();
        let tcp = tokio::time::timeout(limits.connect_timeout, async {
            if resolved.is_empty() {
                TcpStream::connect((addr.host.as_str(), addr.port)).await
            } else {
                TcpStream::connect(&resolved[..]).await
            }
        })
        .await
        .map_err(|_| ImapError::Connect {
            addr: addr_text.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", limits.connect_timeout.as_secs()),
            ),
        })?
        .map_err(|source| ImapError::Connect {
            addr: addr_text.clone(),
            source,
        })?;
        let _ = tcp.set_nodelay(true);
        let need_config = || ImapError::Tls {
            addr: addr_text.clone(),
            reason: "no TLS configuration given".into(),
        };
        match addr.security {
            Security::None => Session::start(Box::new(tcp), limits, addr_text).await,
            Security::Tls => {
                let config = tls_config.ok_or_else(need_config)?;
                let stream =
                    tls::handshake(tcp, &addr.host, &addr_text, config, limits.timeout).await?;
                debug!(addr = %addr_text, "TLS established");
                Session::start(Box::new(stream), limits, addr_text).await
            }
            Security::StartTls => {
                let config = tls_config.ok_or_else(need_config)?;
                let mut conn = Connection::new(tcp, 1, limits.clone(), addr_text.clone());
                match conn.read_greeting().await? {
                    GreetingResp::Ok(_) => {}
                    GreetingResp::PreAuth(_) => {
                        return Err(ImapError::Tls {
                            addr: addr_text,
                            reason: "server greeted with PREAUTH, so STARTTLS is impossible".into(),
                        });
                    }
                    GreetingResp::Bye(text) => return Err(ImapError::Bye { text }),
                }
                let tag = conn.next_tag();
                let line = format!("{tag} STARTTLS\r\n").into_bytes();
                let done = conn
                    .execute(
                        "STARTTLS",
                        &tag,
                        vec![Out::Bytes(line.into())],
                        Logging::FirstLine,
                    )
                    .await?;
                if done.status.kind != StatusKind::Ok {
                    return Err(ImapError::Tls {
                        addr: addr_text,
                        reason: format!("server refused STARTTLS: {}", done.status.text),
                    });
                }
                let (tcp, next_tag) = conn.into_inner()?;
                let stream =
                    tls::handshake(tcp, &addr.host, &addr_text, config, limits.timeout).await?;
                debug!(addr = %addr_text, "STARTTLS established");
                let mut session = Session {
                    conn: Connection::new(Box::new(stream), next_tag, limits, addr_text),
                    caps: Capabilities::default(),
                    authenticated: false,
                };
                // Capabilities seen before TLS cannot be trusted (RFC 3501 6.2.1).
                session.refresh_capabilities().await?;
                Ok(session)
            }
        }
    }

    /// Runs IMAP over an already connected stream, starting with the greeting. Useful for
    /// tunnels and tests.
    pub async fn from_stream<S>(stream: S) -> Result<Session, ImapError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        Self::from_stream_limited(stream, Limits::default()).await
    }

    /// Like [`Session::from_stream`] with these limits and timeouts (the greeting's
    /// included).
    pub async fn from_stream_limited<S>(stream: S, limits: Limits) -> Result<Session, ImapError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        Self::start(Box::new(stream), limits, "(stream)".into()).await
    }

    async fn start(
        stream: Box<dyn AsyncStream>,
        limits: Limits,
        server: String,
    ) -> Result<Session, ImapError> {
        let mut conn = Connection::new(stream, 1, limits, server);
        let (caps, authenticated) = match conn.read_greeting().await? {
            GreetingResp::Ok(caps) => (caps, false),
            GreetingResp::PreAuth(caps) => (caps, true),
            GreetingResp::Bye(text) => return Err(ImapError::Bye { text }),
        };
        let mut session = Session {
            conn,
            caps: Capabilities::default(),
            authenticated,
        };
        match caps {
            Some(caps) => session.caps = Capabilities(caps),
            None => session.refresh_capabilities().await?,
        }
        Ok(session)
    }

    /// Silence longer than this on a command fails it with [`ImapError::Timeout`]
    /// (default 120 s); the same as setting [`Limits::timeout`].
    pub fn set_timeout(&mut self, timeout: Duration) {
        let mut limits = self.conn.limits().clone();
        limits.timeout = timeout;
        self.conn.set_limits(limits);
    }

    /// Limits and timeouts for the commands from now on. (With COMPRESS on, the
    /// inflation ratio is counted from the start of the connection.)
    pub fn set_limits(&mut self, limits: Limits) {
        self.conn.set_limits(limits);
    }

    pub fn limits(&self) -> &Limits {
        self.conn.limits()
    }

    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// About the round-trip time to the server: its quickest command's, from sending it
    /// to its completion. `None` before a command completed.
    pub fn round_trip(&self) -> Option<std::time::Duration> {
        self.conn.round_trip()
    }

    /// Whether COMPRESS=DEFLATE is on.
    pub fn is_compressed(&self) -> bool {
        self.conn.is_inflating()
    }

    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    pub(crate) async fn refresh_capabilities(&mut self) -> Result<(), ImapError> {
        let done = self.run("CAPABILITY", CommandBody::Capability).await?;
        let caps = done
            .untagged
            .into_iter()
            .filter_map(|u| match u {
                Untagged::Capability(c) => Some(c),
                _ => None,
            })
            .next_back()
            .ok_or_else(|| ImapError::Protocol("no CAPABILITY data in reply".into()))?;
        self.caps = Capabilities(caps);
        Ok(())
    }

    /// Encodes `body` with `CommandCodec` and runs it; NO/BAD become errors.
    pub(crate) async fn run(
        &mut self,
        command: &'static str,
        body: CommandBody<'_>,
    ) -> Result<Completion, ImapError> {
        self.run_raw(command, body, Logging::FirstLine)
            .await?
            .ok(command)
    }

    /// Like `run`, but NO/BAD are returned in the completion.
    pub(crate) async fn run_raw(
        &mut self,
        command: &'static str,
        body: CommandBody<'_>,
        logging: Logging,
    ) -> Result<Completion, ImapError> {
        let tag = self.conn.next_tag();
        let parts = encode_command(&tag, body)?;
        self.conn.execute(command, &tag, parts, logging).await
    }

    /// LIST "" "*".
    pub async fn list(&mut self) -> Result<Vec<ListedMailbox>, ImapError> {
        let body = CommandBody::list("", "*")
            .map_err(|e| ImapError::InvalidArgument(format!("LIST: {e:?}")))?;
        Ok(listed(self.run("LIST", body).await?))
    }

    /// LIST "" "*" with RFC 6154 special-use attributes (`\Sent`, `\Trash`, ...).
    ///
    /// `RETURN (SPECIAL-USE)` is only valid where the server has SPECIAL-USE or
    /// LIST-EXTENDED; elsewhere a plain LIST is sent, whose attributes may still carry them
    /// (XLIST-era servers, Dovecot). A server that advertises but rejects the extended
    /// form (BAD) gets the plain form too: folder mapping is worse without the attributes,
    /// but a migration must not fail over them.
    pub async fn list_special_use(&mut self) -> Result<Vec<ListedMailbox>, ImapError> {
        if !(self.caps.has("SPECIAL-USE") || self.caps.has("LIST-EXTENDED")) {
            return self.list().await;
        }
        // imap-codec has no type for LIST return options, so this one line is ours.
        let tag = self.conn.next_tag();
        let line = format!("{tag} LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\n").into_bytes();
        let done = self
            .conn
            .execute(
                "LIST",
                &tag,
                vec![Out::Bytes(line.into())],
                Logging::FirstLine,
            )
            .await?;
        if done.status.kind == StatusKind::Bad {
            debug!("LIST RETURN (SPECIAL-USE) refused; listing without it");
            return self.list().await;
        }
        Ok(listed(done.ok("LIST")?))
    }

    /// LSUB "" "*": the subscribed mailboxes.
    pub async fn lsub(&mut self) -> Result<Vec<ListedMailbox>, ImapError> {
        let body = CommandBody::lsub("", "*")
            .map_err(|e| ImapError::InvalidArgument(format!("LSUB: {e:?}")))?;
        let done = self.run("LSUB", body).await?;
        Ok(done
            .untagged
            .into_iter()
            .filter_map(|u| match u {
                Untagged::Lsub(l) => Some(l),
                _ => None,
            })
            .collect())
    }

    /// Read-only select.
    pub async fn examine(&mut self, name: &MailboxName) -> Result<SelectedMailbox, ImapError> {
        let body = CommandBody::Examine {
            mailbox: name.to_imap()?,
            parameters: Vec::new(),
        };
        selected(self.run("EXAMINE", body).await?)
    }

    pub async fn select(&mut self, name: &MailboxName) -> Result<SelectedMailbox, ImapError> {
        let body = CommandBody::Select {
            mailbox: name.to_imap()?,
            parameters: Vec::new(),
        };
        selected(self.run("SELECT", body).await?)
    }

    /// CREATE. A NO with `[ALREADYEXISTS]` (RFC 5530), or whose text says the mailbox
    /// exists (Dovecot: "Mailbox already exists"), is [`CreateOutcome::AlreadyExists`].
    pub async fn create(&mut self, name: &MailboxName) -> Result<CreateOutcome, ImapError> {
        let body = CommandBody::Create {
            mailbox: name.to_imap()?,
        };
        let done = self.run_raw("CREATE", body, Logging::FirstLine).await?;
        if done.status.is_already_exists() {
            return Ok(CreateOutcome::AlreadyExists);
        }
        done.ok("CREATE")?;
        Ok(CreateOutcome::Created)
    }

    /// CREATE, SUBSCRIBE and UNSUBSCRIBE for many folders, pipelined: a round trip per
    /// hundred commands instead of one each (what a new mailbox's dozens of folders cost
    /// on a distant link). Done in order; a folder that already exists is fine.
    ///
    /// A NO does not stop the rest: those folders come back in the `Ok` list with the
    /// command the server refused. Servers differ on unsubscribing a name that is not
    /// subscribed (or subscribing one that is), and a subscription is not worth a
    /// mailbox's messages; a name the target refuses to CREATE is one folder's problem,
    /// for the caller to report. A BAD or a lost connection is the error, with its folder.
    pub async fn set_up_folders(
        &mut self,
        folders: &[FolderSetup],
    ) -> Result<Vec<(MailboxName, &'static str, ImapError)>, (MailboxName, ImapError)> {
        // Bounded, so that neither side's socket buffer fills while the other waits.
        const PER_ROUND: usize = 100;
        let mut commands: Vec<(&MailboxName, &'static str, CommandBody<'_>)> = Vec::new();
        for f in folders {
            let name = &f.name;
            let mailbox = name.to_imap().map_err(|e| (name.clone(), e))?;
            if f.create {
                commands.push((
                    name,
                    "CREATE",
                    CommandBody::Create {
                        mailbox: mailbox.clone(),
                    },
                ));
            }
            match f.subscribe {
                Some(true) => {
                    commands.push((name, "SUBSCRIBE", CommandBody::Subscribe { mailbox }));
                }
                Some(false) => {
                    commands.push((name, "UNSUBSCRIBE", CommandBody::Unsubscribe { mailbox }));
                }
                None => {}
            }
        }
        let mut refused = Vec::new();
        let mut rest = commands.into_iter().peekable();
        while rest.peek().is_some() {
            let round: Vec<_> = rest.by_ref().take(PER_ROUND).collect();
            let mut wire = Vec::with_capacity(round.len());
            let mut meta = Vec::with_capacity(round.len());
            for (name, command, body) in round {
                let tag = self.conn.next_tag();
                let parts = encode_command(&tag, body).map_err(|e| (name.clone(), e))?;
                wire.push((tag, parts));
                meta.push((name, command));
            }
            let first = meta.first().map(|(n, _)| (*n).clone());
            let (_, statuses) = self
                .conn
                .execute_pipelined("CREATE/SUBSCRIBE/UNSUBSCRIBE", wire)
                .await
                .map_err(|e| {
                    (
                        first.unwrap_or_else(|| MailboxName::from_wire(Vec::new())),
                        e,
                    )
                })?;
            for ((name, command), status) in meta.into_iter().zip(statuses) {
                if command == "CREATE" && status.is_already_exists() {
                    continue;
                }
                match status.check(command) {
                    Ok(()) => {}
                    Err(e @ ImapError::No { .. }) => refused.push((name.clone(), command, e)),
                    Err(e) => return Err((name.clone(), e)),
                }
            }
        }
        Ok(refused)
    }

    /// Leaves the selected mailbox without expunging anything: UNSELECT (RFC 3691) when
    /// offered, else CLOSE, which expunges nothing after EXAMINE (read-only).
    pub async fn unselect(&mut self) -> Result<(), ImapError> {
        if self.caps.has("UNSELECT") {
            self.run("UNSELECT", CommandBody::Unselect).await?;
        } else {
            self.run("CLOSE", CommandBody::Close).await?;
        }
        Ok(())
    }

    pub async fn rename(&mut self, from: &MailboxName, to: &MailboxName) -> Result<(), ImapError> {
        let body = CommandBody::Rename {
            from: from.to_imap()?,
            to: to.to_imap()?,
        };
        self.run("RENAME", body).await?;
        Ok(())
    }

    pub async fn delete(&mut self, name: &MailboxName) -> Result<(), ImapError> {
        let body = CommandBody::Delete {
            mailbox: name.to_imap()?,
        };
        self.run("DELETE", body).await?;
        Ok(())
    }

    pub async fn unsubscribe(&mut self, name: &MailboxName) -> Result<(), ImapError> {
        let body = CommandBody::Unsubscribe {
            mailbox: name.to_imap()?,
        };
        self.run("UNSUBSCRIBE", body).await?;
        Ok(())
    }

    pub async fn subscribe(&mut self, name: &MailboxName) -> Result<(), ImapError> {
        let body = CommandBody::Subscribe {
            mailbox: name.to_imap()?,
        };
        self.run("SUBSCRIBE", body).await?;
        Ok(())
    }

    /// What STATUS asks for: MESSAGES UIDNEXT UIDVALIDITY, plus HIGHESTMODSEQ when
    /// CONDSTORE is advertised and SIZE (RFC 8438) when STATUS=SIZE is.
    pub(crate) fn status_items(&self) -> Vec<StatusDataItemName> {
        let mut items = vec![
            StatusDataItemName::Messages,
            StatusDataItemName::UidNext,
            StatusDataItemName::UidValidity,
        ];
        if self.caps.has("CONDSTORE") {
            items.push(StatusDataItemName::HighestModSeq);
        }
        if self.caps.has("STATUS=SIZE") {
            items.push(StatusDataItemName::Size);
        }
        items
    }

    /// STATUS (MESSAGES UIDNEXT UIDVALIDITY), plus HIGHESTMODSEQ when CONDSTORE is
    /// advertised and SIZE when STATUS=SIZE is.
    pub async fn status(&mut self, name: &MailboxName) -> Result<MailboxStatus, ImapError> {
        let body = CommandBody::Status {
            mailbox: name.to_imap()?,
            item_names: Cow::Owned(self.status_items()),
        };
        let done = self.run("STATUS", body).await?;
        status_of(name, &done.untagged)
            .ok_or_else(|| ImapError::Protocol(format!("no STATUS data for {}", name.to_display())))
    }

    /// [`Session::statuses`] of `names`, answered from `listed` (the STATUS a LIST carried,
    /// [`crate::Folders::statuses`]) where it holds the mailbox: only the others are asked,
    /// and none at all, no round trip, when the listing told them all.
    pub async fn statuses_after_listing(
        &mut self,
        names: &[MailboxName],
        listed: &ListedStatuses,
    ) -> Result<Vec<Result<MailboxStatus, ImapError>>, ImapError> {
        let mut answers: Vec<Option<Result<MailboxStatus, ImapError>>> =
            names.iter().map(|n| listed.get(n).map(Ok)).collect();
        let missing: Vec<MailboxName> = names
            .iter()
            .zip(&answers)
            .filter(|(_, a)| a.is_none())
            .map(|(n, _)| n.clone())
            .collect();
        let mut asked = self.statuses(&missing).await?.into_iter();
        for answer in answers.iter_mut().filter(|a| a.is_none()) {
            *answer = asked.next();
        }
        Ok(answers.into_iter().flatten().collect())
    }

    /// STATUS of many mailboxes, pipelined (a round trip per hundred): each mailbox's
    /// answer, or the NO the server gave for it. A BAD or a lost connection is the error.
    pub async fn statuses(
        &mut self,
        names: &[MailboxName],
    ) -> Result<Vec<Result<MailboxStatus, ImapError>>, ImapError> {
        const PER_ROUND: usize = 100;
        let items = self.status_items();
        let mut answers = Vec::with_capacity(names.len());
        for round in names.chunks(PER_ROUND) {
            let mut wire = Vec::with_capacity(round.len());
            for name in round {
                let tag = self.conn.next_tag();
                let body = CommandBody::Status {
                    mailbox: name.to_imap()?,
                    item_names: Cow::Owned(items.clone()),
                };
                wire.push((tag.clone(), encode_command(&tag, body)?));
            }
            let (untagged, statuses) = self.conn.execute_pipelined("STATUS", wire).await?;
            for (name, status) in round.iter().zip(statuses) {
                answers.push(match status.check("STATUS") {
                    Ok(()) => status_of(name, &untagged).ok_or_else(|| {
                        ImapError::Protocol(format!("no STATUS data for {}", name.to_display()))
                    }),
                    Err(e @ ImapError::No { .. }) => Err(e),
                    Err(e) => return Err(e),
                });
            }
        }
        Ok(answers)
    }

    pub async fn noop(&mut self) -> Result<(), ImapError> {
        self.run("NOOP", CommandBody::Noop).await?;
        Ok(())
    }

    /// LOGOUT; the server's BYE is expected and not an error.
    pub async fn logout(mut self) -> Result<(), ImapError> {
        match self.run("LOGOUT", CommandBody::Logout).await {
            Ok(_) | Err(ImapError::Bye { .. }) | Err(ImapError::ConnectionClosed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Splits a `CommandCodec` encoding into our parts, waiting for `+` before each
/// synchronizing literal.
pub(crate) fn encode_command(
    tag: &str,
    body: CommandBody<'_>,
) -> Result<Vec<Out<'static>>, ImapError> {
    let command = Command::new(tag, body)
        .map_err(|e| ImapError::InvalidArgument(format!("tag {tag:?}: {e}")))?;
    let mut parts = Vec::new();
    for fragment in CommandCodec::default().encode(&command) {
        match fragment {
            Fragment::Line { data } => parts.push(Out::Bytes(data.into())),
            Fragment::Literal { data, mode } => {
                if mode == LiteralMode::Sync {
                    parts.push(Out::AwaitContinuation);
                }
                parts.push(Out::Bytes(data.into()));
            }
        }
    }
    Ok(parts)
}

fn listed(done: Completion) -> Vec<ListedMailbox> {
    done.untagged
        .into_iter()
        .filter_map(|u| match u {
            Untagged::List(l) => Some(l),
            _ => None,
        })
        .collect()
}

pub(crate) fn selected(done: Completion) -> Result<SelectedMailbox, ImapError> {
    let mut uid_validity = None;
    let mut uid_next = None;
    let mut exists = None;
    let mut highest_modseq = None;
    let mut mailbox_id = None;
    let mut apply = |code: &Code| match code {
        Code::UidValidity(n) => uid_validity = Some(*n),
        Code::UidNext(n) => uid_next = Some(*n),
        Code::HighestModSeq(n) => highest_modseq = Some(*n),
        Code::Other(text) => {
            if let Some(id) = parse_mailbox_id(text) {
                mailbox_id = Some(id);
            }
        }
        _ => {}
    };
    for u in &done.untagged {
        match u {
            Untagged::Exists(n) => exists = Some(*n),
            Untagged::Info(status) => {
                if let Some(code) = &status.code {
                    apply(code);
                }
            }
            _ => {}
        }
    }
    if let Some(code) = &done.status.code {
        apply(code);
    }
    let uid_validity = uid_validity
        .ok_or_else(|| ImapError::Protocol("SELECT/EXAMINE reply lacks UIDVALIDITY".into()))?;
    Ok(SelectedMailbox {
        uid_validity,
        uid_next,
        exists,
        highest_modseq,
        mailbox_id,
    })
}

/// The id of a `[MAILBOXID (id)]` response code (RFC 8474 section 4.2), read by hand:
/// imap-types 2.0.0-alpha.8 has no OBJECTID support and hands the code over as text.
/// An id is 1 to 255 of ALPHA, DIGIT, "_" and "-"; anything else is not one.
pub(crate) fn parse_mailbox_id(code: &str) -> Option<String> {
    let rest = code.strip_prefix("MAILBOXID")?.trim_start();
    let id = rest.strip_prefix('(')?.strip_suffix(')')?;
    let valid = (1..=255).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    valid.then(|| id.to_string())
}
