//! Test support for end-to-end tests: private Dovecot servers, mail written straight into
//! their maildirs, snapshots read back through doveadm; private Cyrus servers, written and
//! read over IMAP by Python's imaplib; an SMTP relay delivering into a Dovecot over LMTP;
//! and a readable diff of two snapshots.
#![allow(dead_code)] // each test uses a different part of the fixture

mod browser;
mod cli;
mod corpus;
mod cyrus;
mod dav;
mod delaying_proxy;
mod dns;
mod dovecot;
mod http;
mod https;
mod idp;
mod limiting_proxy;
mod maildir;
// The store's conformance suite starts its PostgreSQL the same way: one fixture for both.
#[path = "../../../../store/tests/conformance/support/postgres.rs"]
pub mod postgres;
mod proxy;
mod rewriting_proxy;
mod samba;
mod scenario;
mod slapd;
mod smtp;
mod state;
mod target_organization;
mod tls;
mod watchdog;

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

pub use browser::Browser;
pub use cli::Cutover;
pub use corpus::{attachment_message, fill_realistic_mailbox, simple_message};
pub use cyrus::{Cyrus, CyrusOptions};
pub use dav::DavServer;
pub use delaying_proxy::DelayingProxy;
pub use dns::{Dnsmasq, Zone};
pub use dovecot::{Dovecot, DovecotOptions, REFUSE_OVER_1_MIB};
pub use http::{EventStream, Serve, request, request_tls, terminate};
pub use https::{AutodiscoverHttps, autoconfig_xml, pox_xml};
pub use idp::{Idp, IdpOptions};
pub use limiting_proxy::LimitingProxy;
pub use proxy::{Cut, CuttingProxy, Direction};
pub use rewriting_proxy::{RewritingProxy, Rule};
pub use samba::SambaDc;
pub use scenario::{
    applied_steps, assert_same_mailbox, assert_same_subscriptions, field, pair,
    pair_refusing_large, pair_with_source_capability, planned_steps, recreate_folder, start_pair,
    users_csv, verify_independently,
};
pub use slapd::Slapd;
pub use smtp::{LMTP, SmtpRelay};
pub use target_organization::TargetOrganization;
pub use tls::{TestCa, TlsFiles};

/// What [`fill_realistic_mailbox`] and scenarios need of a server fixture, so the same mail
/// goes into a Dovecot or a Cyrus.
pub trait MailServer {
    fn port(&self) -> u16;
    /// Creates a folder (UTF-8 display name, '/' hierarchy); an existing one is fine.
    fn create_folder(&self, user: &str, folder: &str);
    fn subscribe(&self, user: &str, folder: &str);
    /// One message with flags, keywords and INTERNALDATE; `body` may use CRLF or LF.
    fn write_message(&self, user: &str, folder: &str, body: &[u8], flags: &[&str], date: i64);
    /// Makes what was written visible over IMAP.
    fn index(&self, user: &str);
    fn mailbox(&self, user: &str) -> MailboxSnapshot;
    /// The server's log, for failure messages.
    fn log(&self) -> String;
    /// What a mail client would do on the server, for incremental scenarios.
    fn unsubscribe(&self, user: &str, folder: &str);
    fn change_flags(&self, user: &str, folder: &str, uid: u32, add: bool, flags: &[&str]);
    fn expunge(&self, user: &str, folder: &str, uid: u32);
    fn uids(&self, user: &str, folder: &str) -> Vec<u32>;
    fn rename_folder(&self, user: &str, from: &str, to: &str);
    fn delete_folder(&self, user: &str, folder: &str);
}

macro_rules! mail_server {
    ($t:ty) => {
        impl MailServer for $t {
            fn port(&self) -> u16 {
                <$t>::port(self)
            }
            fn create_folder(&self, user: &str, folder: &str) {
                <$t>::create_folder(self, user, folder)
            }
            fn subscribe(&self, user: &str, folder: &str) {
                <$t>::subscribe(self, user, folder)
            }
            fn write_message(
                &self,
                user: &str,
                folder: &str,
                body: &[u8],
                flags: &[&str],
                date: i64,
            ) {
                <$t>::write_message(self, user, folder, body, flags, date)
            }
            fn index(&self, user: &str) {
                <$t>::index(self, user)
            }
            fn mailbox(&self, user: &str) -> MailboxSnapshot {
                <$t>::mailbox(self, user)
            }
            fn log(&self) -> String {
                <$t>::log(self)
            }
            fn unsubscribe(&self, user: &str, folder: &str) {
                <$t>::unsubscribe(self, user, folder)
            }
            fn change_flags(&self, user: &str, folder: &str, uid: u32, add: bool, flags: &[&str]) {
                <$t>::change_flags(self, user, folder, uid, add, flags)
            }
            fn expunge(&self, user: &str, folder: &str, uid: u32) {
                <$t>::expunge(self, user, folder, uid)
            }
            fn uids(&self, user: &str, folder: &str) -> Vec<u32> {
                <$t>::uids(self, user, folder)
            }
            fn rename_folder(&self, user: &str, from: &str, to: &str) {
                <$t>::rename_folder(self, user, from, to)
            }
            fn delete_folder(&self, user: &str, folder: &str) {
                <$t>::delete_folder(self, user, folder)
            }
        }
    };
}
mail_server!(Dovecot);
mail_server!(Cyrus);

/// What one server holds for one user. Folder names are UTF-8 display names with '/' as
/// the hierarchy separator whatever the server's separator is.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MailboxSnapshot {
    /// Every listed folder (\Noselect parents too, with no messages), messages in UID order.
    pub folders: BTreeMap<String, Vec<StoredMessage>>,
    pub subscribed: BTreeSet<String>,
    pub selectable: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The full message as an IMAP client receives it for BODY[] (CRLF line ends).
    pub body: Vec<u8>,
    /// Sorted, lower-cased, without `\recent`.
    pub flags: Vec<String>,
    /// INTERNALDATE, unix seconds.
    pub internal_date: i64,
}

impl StoredMessage {
    pub fn sha256(&self) -> String {
        hex(&Sha256::digest(&self.body))
    }

    /// The Subject header as stored (possibly RFC 2047), for messages in diffs.
    pub fn subject(&self) -> String {
        let head_end = find(&self.body, b"\r\n\r\n").unwrap_or(self.body.len());
        String::from_utf8_lossy(&self.body[..head_end])
            .split("\r\n")
            .find_map(|l| {
                l.strip_prefix("Subject:")
                    .or_else(|| l.strip_prefix("subject:"))
            })
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }
}

impl MailboxSnapshot {
    pub fn message_count(&self) -> usize {
        self.folders.values().map(Vec::len).sum()
    }
}

/// Differences between a source and a target snapshot, one readable line each; empty when
/// every selectable source folder exists on the target with the same multiset of
/// (sha256 of body, flags, internal date). Empty extra target folders and subscriptions
/// are not compared (compare `subscribed` yourself where it matters).
pub fn diff(src: &MailboxSnapshot, dst: &MailboxSnapshot) -> Vec<String> {
    type Key = (String, Vec<String>, i64);
    let keys = |msgs: &[StoredMessage]| -> BTreeMap<Key, (usize, String)> {
        let mut out = BTreeMap::new();
        for m in msgs {
            let entry = out
                .entry((m.sha256(), m.flags.clone(), m.internal_date))
                .or_insert((0, m.subject()));
            entry.0 += 1;
        }
        out
    };
    let mut lines = Vec::new();
    for folder in &src.selectable {
        let src_msgs = &src.folders[folder];
        if !dst.selectable.contains(folder) {
            lines.push(format!(
                "{folder:?}: folder missing on target ({} messages)",
                src_msgs.len()
            ));
            continue;
        }
        let (s, d) = (keys(src_msgs), keys(&dst.folders[folder]));
        for (key @ (sha, flags, date), (n, subject)) in &s {
            let have = d.get(key).map_or(0, |e| e.0);
            if have >= *n {
                continue;
            }
            let short = &sha[..12];
            let twins: Vec<&Key> = d
                .keys()
                .filter(|k| &k.0 == sha && !s.contains_key(*k))
                .collect();
            let what = match twins.first() {
                None => "missing on target".to_string(),
                Some((_, f, _)) if f != flags => {
                    format!("flags {flags:?} on source, {f:?} on target")
                }
                Some((_, _, t)) => format!("internal date {date} on source, {t} on target"),
            };
            lines.push(format!(
                "{folder:?}: {} message(s) {short} {subject:?}: {what}",
                n - have
            ));
        }
        let per_sha = |m: &BTreeMap<Key, (usize, String)>| {
            let mut out: BTreeMap<String, (usize, String)> = BTreeMap::new();
            for ((sha, _, _), (n, subject)) in m {
                out.entry(sha.clone()).or_insert((0, subject.clone())).0 += n;
            }
            out
        };
        let src_shas = per_sha(&s);
        for (sha, (n, subject)) in per_sha(&d) {
            let had = src_shas.get(&sha).map_or(0, |e| e.0);
            if n > had {
                let what = if had == 0 { "extra" } else { "duplicate" };
                lines.push(format!(
                    "{folder:?}: {} {what} message(s) {} {subject:?} on target",
                    n - had,
                    &sha[..12]
                ));
            }
        }
    }
    for (folder, msgs) in &dst.folders {
        if !src.folders.contains_key(folder) && !msgs.is_empty() {
            lines.push(format!(
                "{folder:?}: extra folder on target with {} messages",
                msgs.len()
            ));
        }
    }
    lines
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
