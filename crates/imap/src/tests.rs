//! Flow tests against canned server bytes. Every reply is also fed split in two at
//! every byte offset, so framing never depends on how reads happen to fall.

use std::{
    collections::VecDeque,
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use chrono::DateTime;
use secrecy::SecretString;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::*;

/// An in-memory server: hands out the scripted chunks in order, records all writes.
struct Mock {
    reads: VecDeque<Vec<u8>>,
    written: Arc<Mutex<Vec<u8>>>,
    /// After the script: block forever instead of EOF.
    hang: bool,
}

impl AsyncRead for Mock {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.reads.pop_front() {
            Some(mut chunk) => {
                let n = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..n]);
                if n < chunk.len() {
                    self.reads.push_front(chunk.split_off(n));
                }
                Poll::Ready(Ok(()))
            }
            None if self.hang => Poll::Pending,
            None => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Mock {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written.lock().unwrap().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

type Written = Arc<Mutex<Vec<u8>>>;

/// The script whole, then split in two at every offset.
fn splits(script: &[u8]) -> Vec<(Mock, Written)> {
    let mut out = Vec::new();
    for i in 0..=script.len() {
        let reads: VecDeque<Vec<u8>> = [&script[..i], &script[i..]]
            .into_iter()
            .filter(|c| !c.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        let written = Written::default();
        out.push((
            Mock {
                reads,
                written: written.clone(),
                hang: false,
            },
            written,
        ));
    }
    out
}

fn text(w: &Written) -> String {
    String::from_utf8_lossy(&w.lock().unwrap()).into_owned()
}

const GREETING: &str = "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ UIDPLUS] Dovecot ready.\r\n";

fn name(wire: &str) -> MailboxName {
    MailboxName::from_wire(wire.as_bytes().to_vec())
}

#[tokio::test]
async fn greeting_then_capability_command() {
    let script = "* OK Dovecot ready.\r\n* CAPABILITY IMAP4rev1 LITERAL+ SASL-IR MULTIAPPEND\r\nC1 OK Pre-login capabilities listed.\r\n";
    for (mock, written) in splits(script.as_bytes()) {
        let s = Session::from_stream(mock).await.unwrap();
        assert!(s.capabilities().has("literal+"));
        assert!(s.capabilities().has("MULTIAPPEND"));
        assert!(!s.capabilities().has("CONDSTORE"));
        assert_eq!(text(&written), "C1 CAPABILITY\r\n");
    }
}

#[tokio::test]
async fn greeting_with_capability_code_and_bye() {
    for (mock, written) in splits(GREETING.as_bytes()) {
        let s = Session::from_stream(mock).await.unwrap();
        assert!(s.capabilities().has("UIDPLUS"));
        assert_eq!(text(&written), "");
    }
    for (mock, _) in splits(b"* BYE Too many connections\r\n") {
        match Session::from_stream(mock).await {
            Err(ImapError::Bye { text }) => assert_eq!(text, "Too many connections"),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn list_with_quoted_mutf7_literal_and_nil_delimiter() {
    let script = format!(
        "{GREETING}* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
         * LIST (\\Noselect \\HasChildren) \"/\" \"Archive\"\r\n\
         * LIST (\\HasNoChildren \\Sent) \"/\" \"&AMk-l&AOk-ments envoy&AOk-s\"\r\n\
         * EXISTS 3\r\n\
         * LIST () NIL \"Flat name\"\r\n\
         * LIST (\\HasNoChildren) \".\" {{4}}\r\nR&-D\r\n\
         C1 OK List completed (0.001 + 0.000 secs).\r\n"
    );
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let list = s.list().await.unwrap();
        assert_eq!(text(&written), "C1 LIST \"\" *\r\n");
        let names: Vec<String> = list.iter().map(|l| l.name.to_display()).collect();
        assert_eq!(
            names,
            ["INBOX", "Archive", "Éléments envoyés", "Flat name", "R&D"]
        );
        assert_eq!(list[2].name.as_bytes(), b"&AMk-l&AOk-ments envoy&AOk-s");
        assert_eq!(list[0].delimiter, Some('/'));
        assert_eq!(list[3].delimiter, None);
        assert_eq!(list[4].delimiter, Some('.'));
        assert!(!list[1].is_selectable());
        assert!(list[2].is_selectable());
        assert!(list[2].has_attribute("\\sent"));
        assert_eq!(list[1].attributes, ["\\Noselect", "\\HasChildren"]);
    }
}

#[tokio::test]
async fn lsub() {
    let script = format!("{GREETING}* LSUB () \"/\" Sent\r\nC1 OK Lsub completed.\r\n");
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let list = s.lsub().await.unwrap();
        assert_eq!(text(&written), "C1 LSUB \"\" *\r\n");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name, name("Sent"));
    }
}

#[tokio::test]
async fn list_special_use_asks_for_attributes_where_advertised() {
    let greeting = "* OK [CAPABILITY IMAP4rev1 LIST-EXTENDED SPECIAL-USE] ready.\r\n";
    let script = format!(
        "{greeting}* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n\
         * LIST (\\HasNoChildren) \"/\" INBOX\r\n\
         C1 OK List completed.\r\n"
    );
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let list = s.list_special_use().await.unwrap();
        assert_eq!(
            text(&written),
            "C1 LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\n"
        );
        assert_eq!(list[0].name, name("Sent Items"));
        assert!(list[0].has_attribute("\\Sent"));
    }
}

#[tokio::test]
async fn list_special_use_falls_back_to_plain_list() {
    // Not advertised: plain LIST, attributes as the server sends them.
    let script = format!("{GREETING}* LIST (\\Trash) \"/\" Trash\r\nC1 OK List completed.\r\n");
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let list = s.list_special_use().await.unwrap();
        assert_eq!(text(&written), "C1 LIST \"\" *\r\n");
        assert!(list[0].has_attribute("\\trash"));
    }
    // Advertised but refused: the plain form follows.
    let script = "* OK [CAPABILITY IMAP4rev1 LIST-EXTENDED] ready.\r\n\
         C1 BAD Error in IMAP command LIST: unknown return option\r\n\
         * LIST () \"/\" Sent\r\nC2 OK List completed.\r\n";
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let list = s.list_special_use().await.unwrap();
        assert_eq!(
            text(&written),
            "C1 LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\nC2 LIST \"\" *\r\n"
        );
        assert_eq!(list[0].name, name("Sent"));
    }
}

#[tokio::test]
async fn examine_reads_uidvalidity_uidnext_highestmodseq() {
    let script = format!(
        "{GREETING}* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)\r\n\
         * OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n\
         * 3 EXISTS\r\n\
         * 0 RECENT\r\n\
         * OK [UIDVALIDITY 1700000000] UIDs valid\r\n\
         * OK [UIDNEXT 4] Predicted next UID\r\n\
         * OK [HIGHESTMODSEQ 12] Highest\r\n\
         * OK [MAILBOXID (F2212ea87-6097-4256-9d51-71338625)] Ok\r\n\
         C1 OK [READ-ONLY] Examine completed (0.001 + 0.000 secs).\r\n"
    );
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let sel = s
            .examine(&name("&AMk-l&AOk-ments envoy&AOk-s"))
            .await
            .unwrap();
        assert_eq!(
            text(&written),
            "C1 EXAMINE \"&AMk-l&AOk-ments envoy&AOk-s\"\r\n"
        );
        assert_eq!(
            sel,
            SelectedMailbox {
                uid_validity: 1_700_000_000,
                uid_next: Some(4),
                exists: Some(3),
                highest_modseq: Some(12),
                mailbox_id: Some("F2212ea87-6097-4256-9d51-71338625".into()),
            }
        );
    }
}

#[tokio::test]
async fn select_inbox_any_case_and_missing_uidvalidity() {
    let script = format!("{GREETING}* 0 EXISTS\r\nC1 OK [READ-WRITE] Select completed.\r\n");
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let err = s.select(&name("inbox")).await.unwrap_err();
        assert!(matches!(err, ImapError::Protocol(_)), "{err:?}");
        assert_eq!(text(&written), "C1 SELECT INBOX\r\n");
    }
}

#[tokio::test]
async fn status_with_highestmodseq() {
    let script = "* OK [CAPABILITY IMAP4rev1 CONDSTORE] ready\r\n\
                  * STATUS \"Sent Items\" (MESSAGES 7 UIDNEXT 20 UIDVALIDITY 99 HIGHESTMODSEQ 31)\r\n\
                  C1 OK Status completed.\r\n";
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let st = s.status(&name("Sent Items")).await.unwrap();
        assert_eq!(
            text(&written),
            "C1 STATUS \"Sent Items\" (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)\r\n"
        );
        assert_eq!(
            st,
            MailboxStatus {
                messages: 7,
                uid_next: Some(20),
                uid_validity: Some(99),
                highest_modseq: Some(31),
                size: None,
            }
        );
    }
}

#[tokio::test]
async fn statuses_are_pipelined_with_sizes_and_a_no_is_that_mailbox_s_answer() {
    let script = "* OK [CAPABILITY IMAP4rev1 STATUS=SIZE] ready\r\n\
                  * STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY 9 SIZE 4500)\r\n\
                  C1 OK done\r\n\
                  C2 NO [NONEXISTENT] Mailbox doesn't exist\r\n\
                  * STATUS Archive (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 10 SIZE 0)\r\n\
                  C3 OK done\r\n";
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let got = s
            .statuses(&[name("INBOX"), name("Gone"), name("Archive")])
            .await
            .unwrap();
        assert_eq!(
            text(&written),
            "C1 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY SIZE)\r\n\
             C2 STATUS Gone (MESSAGES UIDNEXT UIDVALIDITY SIZE)\r\n\
             C3 STATUS Archive (MESSAGES UIDNEXT UIDVALIDITY SIZE)\r\n"
        );
        assert_eq!(got.len(), 3);
        let inbox = got[0].as_ref().unwrap();
        assert_eq!((inbox.messages, inbox.size), (3, Some(4500)));
        assert!(matches!(got[1], Err(ImapError::No { .. })), "{:?}", got[1]);
        assert_eq!(got[2].as_ref().unwrap().size, Some(0));
    }
}

#[tokio::test]
async fn fetch_meta_drops_recent() {
    let script = format!(
        "{GREETING}* 1 FETCH (UID 10 FLAGS (\\Seen \\Recent $Forwarded) INTERNALDATE \"05-Mar-2024 10:11:12 +0100\" RFC822.SIZE 1234)\r\n\
         * 2 FETCH (UID 11 FLAGS () INTERNALDATE \" 1-Jan-2020 00:00:00 -0500\" RFC822.SIZE 5)\r\n\
         C1 OK Fetch completed.\r\n"
    );
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let meta = s.fetch_meta("1:*").await.unwrap();
        assert_eq!(
            text(&written),
            "C1 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)\r\n"
        );
        assert_eq!(meta.len(), 2);
        assert_eq!(meta[0].uid, 10);
        assert_eq!(meta[0].flags, ["\\Seen", "$Forwarded"]);
        assert_eq!(
            meta[0].internal_date,
            DateTime::parse_from_rfc3339("2024-03-05T10:11:12+01:00").unwrap()
        );
        assert_eq!(meta[0].size, 1234);
        assert!(meta[1].flags.is_empty());
        assert_eq!(meta[1].internal_date.offset().local_minus_utc(), -5 * 3600);
    }
}

#[tokio::test]
async fn examine_and_list_pipelines_every_folder_and_keeps_each_answer_with_its_folder() {
    // Sent's listing carries UID 10, as INBOX's does: each stays with its folder. Drafts
    // will not open; Empty has no `1:*` to fetch (BAD) and lists as empty.
    let script = format!(
        "{GREETING}* 2 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 12] n\r\n\
         C1 OK [READ-ONLY] Examine completed.\r\n\
         * 1 FETCH (UID 10 FLAGS (\\Seen) INTERNALDATE \"05-Mar-2024 10:11:12 +0100\" RFC822.SIZE 100)\r\n\
         * 2 FETCH (UID 11 FLAGS () INTERNALDATE \"05-Mar-2024 10:11:12 +0100\" RFC822.SIZE 200)\r\n\
         C2 OK Fetch completed.\r\n\
         * 1 EXISTS\r\n* OK [UIDVALIDITY 8] v\r\nC3 OK [READ-ONLY] Examine completed.\r\n\
         * 1 FETCH (UID 10 FLAGS (\\Answered) INTERNALDATE \"06-Mar-2024 10:11:12 +0100\" RFC822.SIZE 300)\r\n\
         C4 OK Fetch completed.\r\n\
         C5 NO Mailbox doesn't exist: Drafts\r\nC6 BAD No mailbox selected.\r\n\
         * 0 EXISTS\r\n* OK [UIDVALIDITY 9] v\r\nC7 OK [READ-ONLY] Examine completed.\r\n\
         C8 BAD Error in IMAP command UID FETCH: Invalid uidset\r\n"
    );
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let names = [name("INBOX"), name("Sent"), name("Drafts"), name("Empty")];
        let listed = s.examine_and_list(&names).await.unwrap();
        assert_eq!(
            text(&written),
            "C1 EXAMINE INBOX\r\nC2 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)\r\n\
             C3 EXAMINE Sent\r\nC4 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)\r\n\
             C5 EXAMINE Drafts\r\nC6 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)\r\n\
             C7 EXAMINE Empty\r\nC8 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)\r\n"
        );
        assert_eq!(listed.len(), 4);
        let (inbox, metas) = listed[0].as_ref().unwrap();
        assert_eq!((inbox.uid_validity, inbox.exists), (7, Some(2)));
        assert_eq!(metas.iter().map(|m| m.size).collect::<Vec<_>>(), [100, 200]);
        let (sent, metas) = listed[1].as_ref().unwrap();
        assert_eq!((sent.uid_validity, sent.exists), (8, Some(1)));
        assert_eq!(metas.len(), 1);
        assert_eq!((metas[0].uid, metas[0].size), (10, 300));
        assert_eq!(metas[0].flags, ["\\Answered"]);
        assert!(
            matches!(listed[2], Err(ImapError::No { .. })),
            "{:?}",
            listed[2]
        );
        let (empty, metas) = listed[3].as_ref().unwrap();
        assert_eq!((empty.uid_validity, empty.exists), (9, Some(0)));
        assert!(metas.is_empty());
    }
}

#[tokio::test]
async fn folders_asks_list_lsub_and_namespace_in_one_round_trip_and_tells_them_apart() {
    // The server interleaves the replies; a LSUB line is a subscription, never a folder.
    let caps = "* OK [CAPABILITY IMAP4rev1 LITERAL+ SPECIAL-USE NAMESPACE] ready.\r\n";
    let script = format!(
        "{caps}* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
         * LSUB () \"/\" Gone\r\n\
         * LIST (\\Sent) \"/\" Sent\r\n\
         * NAMESPACE ((\"\" \"/\")) NIL NIL\r\n\
         * LSUB () \"/\" INBOX\r\n\
         C1 OK List completed.\r\nC2 OK Lsub completed.\r\nC3 OK Namespace completed.\r\n"
    );
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let f = s.folders().await.unwrap();
        assert_eq!(
            text(&written),
            "C1 LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\nC2 LSUB \"\" *\r\nC3 NAMESPACE\r\n"
        );
        let names = |l: &[ListedMailbox]| l.iter().map(|m| m.name.to_display()).collect::<Vec<_>>();
        assert_eq!(names(&f.listed), ["INBOX", "Sent"]);
        assert_eq!(f.listed[1].attributes, ["\\Sent"]);
        assert_eq!(names(&f.subscribed), ["Gone", "INBOX"]);
        assert_eq!(f.namespaces.unwrap().personal[0].prefix, b"");
    }
    // RETURN (SPECIAL-USE) refused: listed again plainly; no NAMESPACE without the capability.
    let caps = "* OK [CAPABILITY IMAP4rev1 LITERAL+ LIST-EXTENDED] ready.\r\n";
    let script = format!(
        "{caps}C1 BAD Unknown RETURN option\r\n* LSUB () \"/\" INBOX\r\nC2 OK Lsub completed.\r\n\
         * LIST () \"/\" INBOX\r\nC3 OK List completed.\r\n"
    );
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let f = s.folders().await.unwrap();
        assert_eq!(
            text(&written),
            "C1 LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\nC2 LSUB \"\" *\r\nC3 LIST \"\" *\r\n"
        );
        assert_eq!((f.listed.len(), f.subscribed.len()), (1, 1));
        assert!(f.namespaces.is_none());
    }
}

#[tokio::test]
async fn a_listing_with_list_status_brings_the_folders_status_and_only_the_rest_is_asked() {
    // RFC 5819: STATUS lines beside the LIST lines; a folder the server could not tell
    // (Gone) has none and is asked on its own, after the listing.
    let caps =
        "* OK [CAPABILITY IMAP4rev1 SPECIAL-USE LIST-STATUS CONDSTORE STATUS=SIZE] ready.\r\n";
    let script = format!(
        "{caps}* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
         * STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY 9 HIGHESTMODSEQ 12 SIZE 4500)\r\n\
         * LIST (\\Sent) \"/\" Sent\r\n\
         * STATUS Sent (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 10 HIGHESTMODSEQ 1 SIZE 0)\r\n\
         * LIST () \"/\" Gone\r\n\
         C1 OK List completed.\r\nC2 OK Lsub completed.\r\n\
         * STATUS Gone (MESSAGES 7 UIDNEXT 8 UIDVALIDITY 11 HIGHESTMODSEQ 5 SIZE 70)\r\n\
         C3 OK done\r\n"
    );
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let (f, _) = s.enable_and_list(&[], true).await.unwrap();
        assert_eq!(
            text(&written),
            "C1 LIST \"\" \"*\" RETURN (SPECIAL-USE STATUS (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ SIZE))\r\n\
             C2 LSUB \"\" *\r\n"
        );
        assert_eq!(f.listed.len(), 3);
        let inbox = f.statuses.get(&name("INBOX")).unwrap();
        assert_eq!(
            (inbox.messages, inbox.highest_modseq, inbox.size),
            (3, Some(12), Some(4500))
        );
        assert!(f.statuses.get(&name("Gone")).is_none());
        let got = s
            .statuses_after_listing(&[name("Sent"), name("Gone"), name("INBOX")], &f.statuses)
            .await
            .unwrap();
        assert!(
            text(&written)
                .ends_with("C3 STATUS Gone (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ SIZE)\r\n"),
            "only Gone is asked: {}",
            text(&written)
        );
        let got: Vec<u32> = got.into_iter().map(|st| st.unwrap().messages).collect();
        assert_eq!(got, [0, 7, 3]);
    }
}

#[tokio::test]
async fn a_pipeline_s_first_completion_is_a_round_trip_sample() {
    // The lanes are planned from the round trip: a connection that has only logged in and
    // listed (pipelined) has a sample from its listing, not from its login alone.
    let caps = "* OK [CAPABILITY IMAP4rev1 LITERAL+] ready.\r\n";
    let script = format!("{caps}C1 OK List completed.\r\nC2 OK Lsub completed.\r\n");
    for (mock, _) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        assert_eq!(s.round_trip(), None);
        s.folders().await.unwrap();
        assert!(s.round_trip().is_some());
    }
}

#[tokio::test]
async fn a_listing_asked_without_status_or_refused_with_it_brings_none() {
    // Not asked for (the target's listing): the plain return options.
    let caps = "* OK [CAPABILITY IMAP4rev1 SPECIAL-USE LIST-STATUS] ready.\r\n";
    let script = format!(
        "{caps}* LIST () \"/\" INBOX\r\nC1 OK List completed.\r\nC2 OK Lsub completed.\r\n"
    );
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let (f, _) = s.enable_and_list(&[], false).await.unwrap();
        assert_eq!(
            text(&written),
            "C1 LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\nC2 LSUB \"\" *\r\n"
        );
        assert!(f.statuses.is_empty());
    }
    // A server that advertises LIST-STATUS but refuses it: listed plainly, no STATUS kept
    // (the folders are then asked with STATUS).
    let caps = "* OK [CAPABILITY IMAP4rev1 LIST-STATUS] ready.\r\n";
    let script = format!(
        "{caps}* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 3)\r\nC1 BAD Unknown RETURN option\r\n\
         C2 OK Lsub completed.\r\n* LIST () \"/\" INBOX\r\nC3 OK List completed.\r\n"
    );
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let (f, _) = s.enable_and_list(&[], true).await.unwrap();
        assert_eq!(
            text(&written),
            "C1 LIST \"\" \"*\" RETURN (STATUS (MESSAGES UIDNEXT UIDVALIDITY))\r\n\
             C2 LSUB \"\" *\r\nC3 LIST \"\" *\r\n"
        );
        assert_eq!(f.listed.len(), 1);
        assert!(f.statuses.is_empty());
    }
    // SPECIAL-USE and LIST-STATUS, the two together refused: the special-use attributes are
    // asked for on their own (an \All folder must be known as such).
    let caps = "* OK [CAPABILITY IMAP4rev1 SPECIAL-USE LIST-STATUS] ready.\r\n";
    let script = format!(
        "{caps}C1 BAD Unknown RETURN option\r\nC2 OK Lsub completed.\r\n\
         * LIST (\\All) \"/\" All\r\nC3 OK List completed.\r\n"
    );
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let (f, _) = s.enable_and_list(&[], true).await.unwrap();
        assert_eq!(
            text(&written),
            "C1 LIST \"\" \"*\" RETURN (SPECIAL-USE STATUS (MESSAGES UIDNEXT UIDVALIDITY))\r\n\
             C2 LSUB \"\" *\r\nC3 LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\n"
        );
        assert_eq!(f.listed[0].attributes, ["\\All"]);
        assert!(f.statuses.is_empty());
    }
}

#[tokio::test]
async fn examine_and_list_refuses_answers_out_of_order() {
    // The second command completes first: whose FETCH data is whose cannot be told.
    let script = format!(
        "{GREETING}C2 OK Fetch completed.\r\n* 1 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n\
         C1 OK Examine completed.\r\n"
    );
    for (mock, _) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        match s.examine_and_list(&[name("INBOX")]).await {
            Err(ImapError::Protocol(text)) => assert!(text.contains("out of order"), "{text}"),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn fetch_bodies_keyed_by_uid_not_order() {
    let script = format!(
        "{GREETING}* 3 FETCH (UID 12 BODY[] {{12}}\r\nhello\r\nworld)\r\n\
         * 5 EXISTS\r\n\
         * 1 FETCH (BODY[] {{3}}\r\nabc UID 10)\r\n\
         * 1 FETCH (FLAGS (\\Seen))\r\n\
         * 4 EXPUNGE\r\n\
         C1 OK Fetch completed.\r\n"
    );
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let got = s.fetch_bodies(&[12, 10, 11]).await.unwrap();
        assert_eq!(text(&written), "C1 UID FETCH 10:12 (UID BODY.PEEK[])\r\n");
        let got: Vec<(u32, Vec<u8>)> = got.into_iter().map(|(u, b)| (u, b.unwrap())).collect();
        assert_eq!(
            got,
            [(12, b"hello\r\nworld".to_vec()), (10, b"abc".to_vec())]
        );
    }
}

#[tokio::test]
async fn nul_body_falls_back_to_binary_without_failing_the_batch() {
    let script = "* OK [CAPABILITY IMAP4rev1 BINARY] ready\r\n\
                  * 1 FETCH (UID 10 BODY[] {3}\r\na\0c)\r\n\
                  * 2 FETCH (UID 11 BODY[] {2}\r\nok)\r\n\
                  C1 OK Fetch completed.\r\n\
                  * 1 FETCH (UID 10 BINARY[] ~{3}\r\na\0c)\r\n\
                  C2 OK Fetch completed.\r\n";
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let got = s.fetch_bodies(&[10, 11]).await.unwrap();
        assert_eq!(
            text(&written),
            "C1 UID FETCH 10:11 (UID BODY.PEEK[])\r\nC2 UID FETCH 10 (UID BINARY.PEEK[])\r\n"
        );
        let got: Vec<(u32, Vec<u8>)> = got.into_iter().map(|(u, b)| (u, b.unwrap())).collect();
        assert_eq!(got, [(10, b"a\0c".to_vec()), (11, b"ok".to_vec())]);
    }
    // Without BINARY the message is reported as failed, the rest still arrives.
    let script = "* OK [CAPABILITY IMAP4rev1] ready\r\n\
                  * 1 FETCH (UID 10 BODY[] {3}\r\na\0c)\r\n\
                  * 2 FETCH (UID 11 BODY[] {2}\r\nok)\r\n\
                  C1 OK Fetch completed.\r\n";
    for (mock, _) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let got = s.fetch_bodies(&[10, 11]).await.unwrap();
        assert_eq!(got.len(), 2);
        assert!(got[0].1.is_err());
        assert_eq!(got[1].1.as_ref().unwrap(), b"ok");
        s.noop().await.unwrap_err(); // script exhausted: connection closed
    }
}

/// Long bodies are set aside by the framer (not checked byte by byte by imap-codec):
/// they arrive whole, one with a NUL falls back to BINARY as a short one does, and a long
/// literal that is not the body (here in ENVELOPE) is decoded as it came.
#[tokio::test]
async fn long_bodies_arrive_whole_and_a_long_nul_body_falls_back_to_binary() {
    let mut nul_body = b"Subject: x\r\n\r\n".to_vec();
    nul_body.resize(1500, b'n');
    nul_body[700] = 0;
    let mut body = b"Subject: y\r\n\r\n".to_vec();
    while body.len() < 1500 {
        body.extend_from_slice(b"line of text\r\n");
    }
    body.truncate(1500);
    let subject = vec![b'a'; 1100];
    let mut script = b"* OK [CAPABILITY IMAP4rev1 BINARY] ready\r\n".to_vec();
    let literal = |script: &mut Vec<u8>, head: &str, bytes: &[u8], tail: &str| {
        script.extend_from_slice(head.as_bytes());
        script.extend_from_slice(bytes);
        script.extend_from_slice(tail.as_bytes());
    };
    literal(
        &mut script,
        "* 1 FETCH (UID 10 BODY[] {1500}\r\n",
        &nul_body,
        ")\r\n",
    );
    literal(
        &mut script,
        "* 2 FETCH (UID 11 BODY[] {1500}\r\n",
        &body,
        ")\r\n",
    );
    literal(
        &mut script,
        "* 3 FETCH (UID 12 ENVELOPE (\"date\" {1100}\r\n",
        &subject,
        " NIL NIL NIL NIL NIL NIL NIL NIL) BODY[] {2}\r\nok)\r\nC1 OK Fetch completed.\r\n",
    );
    literal(
        &mut script,
        "* 1 FETCH (UID 10 BINARY[] ~{1500}\r\n",
        &nul_body,
        ")\r\nC2 OK Fetch completed.\r\n",
    );
    for (mock, written) in splits(&script).into_iter().step_by(7) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let got = s.fetch_bodies(&[10, 11, 12]).await.unwrap();
        assert_eq!(
            text(&written),
            "C1 UID FETCH 10:12 (UID BODY.PEEK[])\r\nC2 UID FETCH 10 (UID BINARY.PEEK[])\r\n"
        );
        let got: Vec<(u32, Vec<u8>)> = got.into_iter().map(|(u, b)| (u, b.unwrap())).collect();
        assert_eq!(
            got,
            [
                (10, nul_body.clone()),
                (11, body.clone()),
                (12, b"ok".to_vec())
            ]
        );
    }
}

/// Small folders in one round trip: each folder's EXAMINE and UID FETCH pipelined, a
/// folder the server will not open failing alone, and a body with a NUL asked for again
/// with BINARY after the round, its folder opened again.
#[tokio::test]
async fn small_folders_are_fetched_in_one_round_trip() {
    let script = "* OK [CAPABILITY IMAP4rev1 BINARY] ready\r\n\
                  * 2 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\nC1 OK [READ-ONLY] done\r\n\
                  * 1 FETCH (UID 1 BODY[] {3}\r\nabc)\r\n\
                  * 2 FETCH (UID 2 BODY[] {3}\r\na\0c)\r\nC2 OK done\r\n\
                  C3 NO [NONEXISTENT] no such folder\r\nC4 BAD no folder selected\r\n\
                  * 2 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\nC5 OK [READ-ONLY] done\r\n\
                  * 2 FETCH (UID 2 BINARY[] ~{3}\r\na\0c)\r\nC6 OK done\r\n";
    for (mock, written) in splits(script.as_bytes()).into_iter().step_by(3) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let got = s
            .examine_and_fetch(&[(name("a"), vec![1, 2]), (name("b"), vec![5])])
            .await
            .unwrap();
        assert_eq!(
            text(&written),
            "C1 EXAMINE a\r\nC2 UID FETCH 1:2 (UID BODY.PEEK[])\r\n\
             C3 EXAMINE b\r\nC4 UID FETCH 5 (UID BODY.PEEK[])\r\n\
             C5 EXAMINE a\r\nC6 UID FETCH 2 (UID BINARY.PEEK[])\r\n"
        );
        let (selected, bodies) = got[0].as_ref().unwrap();
        assert_eq!(selected.uid_validity, 7);
        let bodies: Vec<(u32, Vec<u8>)> = bodies
            .iter()
            .map(|(uid, b)| (*uid, b.as_ref().unwrap().clone()))
            .collect();
        assert_eq!(bodies, [(1, b"abc".to_vec()), (2, b"a\0c".to_vec())]);
        assert!(matches!(got[1], Err(ImapError::No { .. })), "{:?}", got[1]);
    }
}

#[tokio::test]
async fn fetch_body_piece_with_origin() {
    let script = format!(
        "{GREETING}* 7 FETCH (UID 70 BODY[]<4> {{3}}\r\nxyz)\r\nC1 OK Fetch completed.\r\n"
    );
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let piece = s.fetch_body_piece(70, 4, 8).await.unwrap();
        assert_eq!(text(&written), "C1 UID FETCH 70 (UID BODY.PEEK[]<4.8>)\r\n");
        assert_eq!(piece, b"xyz");
    }
}

/// Whole bodies into temporary files, one pipelined command per message, answered out of
/// order: a long body spooled as it arrives, a short one too (from memory); an expunged
/// message is absent and a refused one fails alone; a body with a NUL is asked for again
/// with BINARY, spooled as well.
#[tokio::test]
async fn spooled_bodies_arrive_whole_and_failures_stay_with_their_message() {
    let long: Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut nul = vec![b'n'; 2000];
    nul[10] = 0;
    let mut script = b"* OK [CAPABILITY IMAP4rev1 BINARY] ready\r\n".to_vec();
    script.extend_from_slice(b"* 9 FETCH (UID 72 BODY[] {3}\r\nabc)\r\nC3 OK done\r\n");
    script.extend_from_slice(b"* 7 FETCH (UID 70 BODY[] {5000}\r\n");
    script.extend_from_slice(&long);
    script.extend_from_slice(
        b")\r\nC1 OK done\r\nC2 OK done\r\nC4 NO [SERVERBUG] Internal error\r\n",
    );
    script.extend_from_slice(b"* 10 FETCH (UID 74 BODY[] {2000}\r\n");
    script.extend_from_slice(&nul);
    script.extend_from_slice(b")\r\nC5 OK done\r\n* 10 FETCH (UID 74 BINARY[] ~{2000}\r\n");
    script.extend_from_slice(&nul);
    script.extend_from_slice(b")\r\nC6 OK done\r\n");
    for (mock, written) in splits(&script).into_iter().step_by(5) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let got = s
            .fetch_spooled(&[(70, 5000), (71, 10), (72, 3), (73, 10), (74, 2000)])
            .await
            .unwrap();
        assert_eq!(
            text(&written),
            "C1 UID FETCH 70 (UID BODY.PEEK[])\r\nC2 UID FETCH 71 (UID BODY.PEEK[])\r\n\
             C3 UID FETCH 72 (UID BODY.PEEK[])\r\nC4 UID FETCH 73 (UID BODY.PEEK[])\r\n\
             C5 UID FETCH 74 (UID BODY.PEEK[])\r\nC6 UID FETCH 74 (UID BINARY.PEEK[])\r\n"
        );
        let uids: Vec<u32> = got.iter().map(|(uid, _)| *uid).collect();
        assert_eq!(uids, [70, 72, 73, 74]);
        assert_eq!(got[0].1.as_ref().unwrap().read_all().unwrap(), long);
        assert_eq!(got[1].1.as_ref().unwrap().read_all().unwrap(), b"abc");
        assert!(
            matches!(got[2].1, Err(ImapError::No { .. })),
            "{:?}",
            got[2].1
        );
        assert_eq!(got[3].1.as_ref().unwrap().read_all().unwrap(), nul);
        // The connection goes on as before: bodies in memory again.
        assert_eq!(s.conn.take_spooled().len(), 0);
    }
}

fn date() -> chrono::DateTime<chrono::FixedOffset> {
    DateTime::parse_from_rfc3339("2024-03-05T10:11:12+01:00").unwrap()
}

#[tokio::test]
async fn multiappend_literal_plus_with_appenduid_range() {
    let seen = vec!["\\Seen".to_string(), "\\Recent".to_string()];
    let labels = vec!["\\Flagged".to_string(), "$Label1".to_string()];
    let messages = [
        AppendMessage {
            flags: &seen,
            internal_date: Some(date()),
            body: b"abc".into(),
        },
        AppendMessage {
            flags: &[],
            internal_date: None,
            body: b"de".into(),
        },
        AppendMessage {
            flags: &labels,
            internal_date: None,
            body: b"f".into(),
        },
    ];
    let script = "* OK [CAPABILITY IMAP4rev1 LITERAL+ MULTIAPPEND UIDPLUS] ready\r\n\
                  C1 OK [APPENDUID 1700000000 3955:3957] Append completed.\r\n";
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let res = s.append(&name("Sent Items"), &messages).await.unwrap();
        assert_eq!(
            text(&written),
            "C1 APPEND \"Sent Items\" (\\Seen) \"05-Mar-2024 10:11:12 +0100\" {3+}\r\nabc {2+}\r\nde (\\Flagged $Label1) {1+}\r\nf\r\n"
        );
        assert_eq!(res.uid_validity, Some(1_700_000_000));
        assert_eq!(res.uids, [Some(3955), Some(3956), Some(3957)]);
    }
}

#[tokio::test]
async fn multiappend_synchronizing_literals() {
    let messages = [
        AppendMessage {
            flags: &[],
            internal_date: None,
            body: b"abc".into(),
        },
        AppendMessage {
            flags: &[],
            internal_date: None,
            body: b"de".into(),
        },
        AppendMessage {
            flags: &[],
            internal_date: None,
            body: b"f".into(),
        },
    ];
    // Three continuation forms: with text, empty after SP (decodes as base64), bare.
    let script = "* OK [CAPABILITY IMAP4rev1 MULTIAPPEND UIDPLUS] ready\r\n\
                  + Ready for literal data\r\n+ \r\n+ OK\r\n\
                  C1 OK [APPENDUID 5 5,7:8] Append completed.\r\n";
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let res = s.append(&name("INBOX"), &messages).await.unwrap();
        assert_eq!(
            text(&written),
            "C1 APPEND INBOX {3}\r\nabc {2}\r\nde {1}\r\nf\r\n"
        );
        assert_eq!(res.uid_validity, Some(5));
        assert_eq!(res.uids, [Some(5), Some(7), Some(8)]);
    }
}

#[tokio::test]
async fn append_no_carries_code() {
    let messages = [AppendMessage {
        flags: &[],
        internal_date: None,
        body: b"abc".into(),
    }];
    let script =
        format!("{GREETING}C1 NO [OVERQUOTA] Quota exceeded (mailbox for user is full)\r\n");
    for (mock, _) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let err = s.append(&name("INBOX"), &messages).await.unwrap_err();
        assert_eq!(err.code_name().as_deref(), Some("OVERQUOTA"));
        assert!(!err.is_transient());
        assert!(
            matches!(
                err,
                ImapError::No {
                    command: "APPEND",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn one_append_per_message_without_multiappend() {
    let bodies: Vec<AppendMessage<'_>> = [&b"one"[..], b"two"]
        .into_iter()
        .map(|body| AppendMessage {
            flags: &[],
            internal_date: None,
            body: body.into(),
        })
        .collect();
    let script = format!(
        "{GREETING}C1 OK [APPENDUID 9 100] Append completed.\r\nC2 NO [TOOBIG] Message too large\r\n"
    );
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        match s.append(&name("INBOX"), &bodies).await.unwrap_err() {
            ImapError::PartialAppend {
                appended,
                uid_validity,
                uids,
                source,
            } => {
                assert_eq!(appended, 1);
                assert_eq!(uid_validity, Some(9));
                assert_eq!(uids, [Some(100)]);
                assert_eq!(source.code_name().as_deref(), Some("TOOBIG"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            text(&written),
            "C1 APPEND INBOX {3+}\r\none\r\nC2 APPEND INBOX {3+}\r\ntwo\r\n"
        );
    }
}

#[tokio::test]
async fn tagged_ok_with_broken_code_is_recovered() {
    // imap-codec parses `[Error="x" y]` itself; these two it rejects, so the lenient
    // tokenizer has to recover the status.
    let script = format!(
        "{GREETING}C1 OK [Error=\"x\" y] done\r\nC2 OK [Error=\"a]b\" c] done\r\nC3 NO [Error=\"a]b\"] fehlgeschlagen \u{e4}\r\n"
    );
    for (mock, _) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        s.noop().await.unwrap();
        s.noop().await.unwrap();
        match s.subscribe(&name("Junk")).await.unwrap_err() {
            ImapError::No {
                command,
                code,
                text,
            } => {
                assert_eq!(command, "SUBSCRIBE");
                assert_eq!(code.as_deref(), Some("Error=\"a]b\""));
                assert_eq!(text, "fehlgeschlagen \u{e4}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn setup(folder: &str, create: bool, subscribe: Option<bool>) -> FolderSetup {
    FolderSetup {
        name: name(folder),
        create,
        subscribe,
    }
}

#[tokio::test]
async fn folders_created_subscribed_and_unsubscribed_in_one_round_trip() {
    // A exists already (fine), B is new, R&D is only subscribed, U unsubscribed (refused:
    // it was not subscribed, as some servers answer), S subscribed (refused); then x's
    // CREATE is refused (reported, not an error), and a BAD is the error.
    let script = format!(
        "{GREETING}C1 NO [ALREADYEXISTS] Mailbox exists\r\n\
         C2 OK Subscribe completed.\r\n\
         C3 OK Create completed.\r\n\
         C4 OK Subscribe completed.\r\n\
         C5 OK Subscribe completed.\r\n\
         C6 NO Not subscribed\r\n\
         C7 OK Unsubscribe completed.\r\n\
         C8 NO [NOPERM] No subscriptions here\r\n\
         C9 NO [CANNOT] Invalid mailbox name\r\n\
         C10 BAD Syntax error\r\n"
    );
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let refused = s
            .set_up_folders(&[
                setup("A", true, Some(true)),
                setup("B", true, Some(true)),
                setup("R&-D", false, Some(true)),
                setup("U", false, Some(false)),
                setup("V", false, Some(false)),
                setup("S", false, Some(true)),
                setup("N", false, None),
            ])
            .await
            .unwrap();
        assert_eq!(
            text(&written),
            "C1 CREATE A\r\nC2 SUBSCRIBE A\r\nC3 CREATE B\r\nC4 SUBSCRIBE B\r\n\
             C5 SUBSCRIBE R&-D\r\nC6 UNSUBSCRIBE U\r\nC7 UNSUBSCRIBE V\r\nC8 SUBSCRIBE S\r\n"
        );
        let refused: Vec<_> = refused
            .iter()
            .map(|(n, c, e)| (n.clone(), *c, e.code_name()))
            .collect();
        assert_eq!(
            refused,
            [
                (name("U"), "UNSUBSCRIBE", None),
                (name("S"), "SUBSCRIBE", Some("NOPERM".to_string()))
            ]
        );
        let refused = s.set_up_folders(&[setup("x", true, None)]).await.unwrap();
        assert_eq!(refused.len(), 1);
        assert_eq!((&refused[0].0, refused[0].1), (&name("x"), "CREATE"));
        assert_eq!(refused[0].2.code_name().as_deref(), Some("CANNOT"));
        let (folder, _) = s
            .set_up_folders(&[setup("y", true, None)])
            .await
            .unwrap_err();
        assert_eq!(folder, name("y"));
    }
}

#[tokio::test]
async fn create_already_exists() {
    let script = format!(
        "{GREETING}C1 NO [ALREADYEXISTS] Mailbox exists\r\n\
         C2 NO Mailbox already exists\r\n\
         C3 OK Create completed.\r\n\
         C4 NO [CANNOT] Invalid mailbox name\r\n"
    );
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        assert_eq!(
            s.create(&name("A")).await.unwrap(),
            CreateOutcome::AlreadyExists
        );
        assert_eq!(
            s.create(&name("B")).await.unwrap(),
            CreateOutcome::AlreadyExists
        );
        assert_eq!(
            s.create(&name("R&-D")).await.unwrap(),
            CreateOutcome::Created
        );
        let err = s.create(&name("x")).await.unwrap_err();
        assert_eq!(err.code_name().as_deref(), Some("CANNOT"));
        assert_eq!(
            text(&written),
            "C1 CREATE A\r\nC2 CREATE B\r\nC3 CREATE R&-D\r\nC4 CREATE x\r\n"
        );
    }
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

#[tokio::test]
async fn plain_with_sasl_ir_and_capability_refresh() {
    let creds = Credentials::Plain {
        authzid: Some("user1@example.test".into()),
        authcid: "admin".into(),
        password: secret("adminpass"),
    };
    let script =
        format!("{GREETING}C1 OK [CAPABILITY IMAP4rev1 MULTIAPPEND CONDSTORE] Logged in\r\n");
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        s.authenticate(&creds).await.unwrap();
        assert!(s.capabilities().has("CONDSTORE"));
        assert!(!s.capabilities().has("SASL-IR"));
        // base64("user1@example.test\0admin\0adminpass")
        assert_eq!(
            text(&written),
            "C1 AUTHENTICATE PLAIN dXNlcjFAZXhhbXBsZS50ZXN0AGFkbWluAGFkbWlucGFzcw==\r\n"
        );
    }
}

#[tokio::test]
async fn plain_without_sasl_ir_waits_for_empty_continuation() {
    let creds = Credentials::Plain {
        authzid: None,
        authcid: "u".into(),
        password: secret("p"),
    };
    let script = "* OK [CAPABILITY IMAP4rev1] ready\r\n+ \r\nC1 OK Logged in\r\n\
                  * CAPABILITY IMAP4rev1 IDLE\r\nC2 OK Capability completed.\r\n";
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        s.authenticate(&creds).await.unwrap();
        assert!(s.capabilities().has("IDLE"));
        assert_eq!(
            text(&written),
            "C1 AUTHENTICATE PLAIN\r\nAHUAcA==\r\nC2 CAPABILITY\r\n"
        );
    }
}

#[tokio::test]
async fn login_with_odd_password_uses_literal() {
    let creds = Credentials::Login {
        username: "user1@example.test*admin".into(),
        password: secret("pä\"ss"),
    };
    let script = format!("{GREETING}+ OK\r\nC1 OK [CAPABILITY IMAP4rev1] Logged in\r\n");
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        s.authenticate(&creds).await.unwrap();
        assert_eq!(
            text(&written),
            "C1 LOGIN \"user1@example.test*admin\" {6}\r\npä\"ss\r\n"
        );
    }
}

#[tokio::test]
async fn failed_login_and_debug_never_show_password() {
    let creds = Credentials::Login {
        username: "alice".into(),
        password: secret("hunter2-secret"),
    };
    let shown = format!("{creds:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("alice"));
    let plain = Credentials::Plain {
        authzid: Some("bob".into()),
        authcid: "admin".into(),
        password: secret("hunter2-secret"),
    };
    assert!(!format!("{plain:?}").contains("hunter2"));

    let script = format!("{GREETING}C1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
    for (mock, _) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let err = s.authenticate(&creds).await.unwrap_err();
        assert!(
            matches!(err, ImapError::AuthenticationFailed { .. }),
            "{err:?}"
        );
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Authentication failed."));
        assert!(!err.is_transient());
    }

    let script = format!("{GREETING}C1 NO [UNAVAILABLE] Temporary failure\r\n");
    for (mock, _) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let err = s.authenticate(&creds).await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
    }
}

#[tokio::test]
async fn logout_accepts_bye() {
    let script = format!("{GREETING}* BYE Logging out\r\nC1 OK Logout completed.\r\n");
    for (mock, written) in splits(script.as_bytes()) {
        let s = Session::from_stream(mock).await.unwrap();
        s.logout().await.unwrap();
        assert_eq!(text(&written), "C1 LOGOUT\r\n");
    }
}

#[tokio::test]
async fn bye_then_close_is_reported_as_bye() {
    let script = format!("{GREETING}* BYE Server shutting down.\r\n");
    for (mock, _) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        match s.noop().await.unwrap_err() {
            ImapError::Bye { text } => assert_eq!(text, "Server shutting down."),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn silent_server_times_out() {
    let mock = Mock {
        reads: VecDeque::from([GREETING.as_bytes().to_vec()]),
        written: Written::default(),
        hang: true,
    };
    let mut s = Session::from_stream(mock).await.unwrap();
    s.set_timeout(Duration::from_millis(50));
    let err = s.noop().await.unwrap_err();
    assert!(matches!(err, ImapError::Timeout { .. }), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn synchronizing_literal_waits_for_continuation() {
    let (client, mut server) = tokio::io::duplex(1 << 16);
    let server_task = tokio::spawn(async move {
        server
            .write_all(b"* OK [CAPABILITY IMAP4rev1 UIDPLUS] ready\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !got.ends_with(b"{5}\r\n") {
            let n = server.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"C1 APPEND Drafts {5}\r\n");
        // Nothing more may arrive before the continuation.
        let early = tokio::time::timeout(Duration::from_millis(100), server.read(&mut buf)).await;
        assert!(early.is_err(), "client sent literal data before '+'");
        server.write_all(b"+ go ahead\r\n").await.unwrap();
        got.clear();
        while !got.ends_with(b"\r\n") {
            let n = server.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"hello\r\n");
        server
            .write_all(b"C1 OK [APPENDUID 4 17] Append completed.\r\n")
            .await
            .unwrap();
        server
    });
    let mut s = Session::from_stream(client).await.unwrap();
    let res = s
        .append(
            &name("Drafts"),
            &[AppendMessage {
                flags: &[],
                internal_date: None,
                body: b"hello".into(),
            }],
        )
        .await
        .unwrap();
    assert_eq!(res.uids, [Some(17)]);
    assert_eq!(res.uid_validity, Some(4));
    server_task.await.unwrap();
}

#[tokio::test]
async fn rejected_synchronizing_literal_stops_the_command() {
    let script = "* OK [CAPABILITY IMAP4rev1] ready\r\nC1 NO [TOOBIG] Message too big\r\n";
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let err = s
            .append(
                &name("INBOX"),
                &[AppendMessage {
                    flags: &[],
                    internal_date: None,
                    body: b"huge".into(),
                }],
            )
            .await
            .unwrap_err();
        assert_eq!(err.code_name().as_deref(), Some("TOOBIG"));
        assert_eq!(text(&written), "C1 APPEND INBOX {4}\r\n");
    }
}

#[test]
fn security_parse_and_display() {
    for (text, sec) in [
        ("none", Security::None),
        ("STARTTLS", Security::StartTls),
        ("Tls", Security::Tls),
    ] {
        let parsed: Security = text.parse().unwrap();
        assert_eq!(parsed, sec);
        assert_eq!(parsed.to_string(), text.to_ascii_lowercase());
    }
    assert!("ssl".parse::<Security>().is_err());
}

#[test]
fn tls_config_builds_and_reports_bad_ca_file() {
    TlsOptions::default().client_config().unwrap();
    let missing = TlsOptions {
        ca_file: Some("/nonexistent/ca.pem".into()),
    };
    let err = missing.client_config().unwrap_err().to_string();
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
}

/// The server's side of the commands `server_bytes_never_panic_nor_pile_up` sends.
const TRANSCRIPT: &[u8] = b"* OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS QRESYNC] hi\r\n\
    C1 OK noop\r\n\
    * 1 FETCH (UID 10 FLAGS (\\Seen) INTERNALDATE \"05-Mar-2024 10:11:12 +0100\" RFC822.SIZE 3)\r\n\
    C2 OK meta\r\n\
    * 3 FETCH (UID 12 BODY[] {12}\r\nhello\r\nworld)\r\n\
    * 1 FETCH (UID 10 BODY[] {3}\r\na\0c)\r\n\
    C3 OK bodies\r\n\
    * VANISHED (EARLIER) 1:4294967295,7\r\nC4 OK changed\r\n\
    * SEARCH 1 2 3\r\nC5 OK search\r\n\
    * LIST (\\HasNoChildren) \".\" {4}\r\nR&-D\r\nC6 OK list\r\n\
    C7 OK [APPENDUID 5 8] done\r\n";

/// Pieces of other streams, to shuffle.
fn stream_pieces() -> Vec<&'static [u8]> {
    vec![
        b"* OK [APPENDUID 1 1:4294967295] hi\r\n* CAPABILITY IMAP4rev1\r\nC1 OK x\r\n",
        b"* 2 FETCH (UID 11 BODY[] {99999}\r\nabc",
        b"C2 OK [APPENDUID 5 5,7:8] done\r\nC3 NO [OVERQUOTA] full\r\n",
        b"+ go\r\n* BYE bye\r\n",
        b"C4 OK [Error=\"a]b\" c] done\r\n* 5 EXISTS\r\n",
        b"* 1 FETCH (UID 10 BINARY[] ~{3}\r\na\0c)\r\n",
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Whatever a server sends, cut anywhere and read in any pieces, the client answers
    /// with results or errors: no panic, no hang, and the framer never holds more than
    /// its limits plus one read.
    #[test]
    fn server_bytes_never_panic_nor_pile_up(
        shuffled in proptest::prelude::any::<bool>(),
        picks in proptest::collection::vec(0usize..6, 0..8),
        junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        junk_at in proptest::prelude::any::<proptest::sample::Index>(),
        cut in proptest::option::of(proptest::prelude::any::<proptest::sample::Index>()),
        sizes in proptest::collection::vec(1usize..100, 1..20),
        max_line in 40usize..400,
        max_literal in 40usize..600,
    ) {
        let mut input = TRANSCRIPT.to_vec();
        if shuffled {
            let pieces = stream_pieces();
            input.extend(picks.iter().flat_map(|&i| pieces[i].to_vec()));
        }
        let at = junk_at.index(input.len() + 1);
        input.splice(at..at, junk.iter().copied());
        if let Some(cut) = cut {
            input.truncate(cut.index(input.len() + 1));
        }
        let mut reads = VecDeque::new();
        let mut rest = &input[..];
        for &n in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = n.min(rest.len());
            reads.push_back(rest[..n].to_vec());
            rest = &rest[n..];
        }
        let limits = Limits {
            max_line,
            max_literal,
            max_untagged_bytes: 2000,
            max_untagged_responses: 20,
            timeout: Duration::from_secs(5),
            ..Limits::default()
        };
        let mock = Mock { reads, written: Written::default(), hang: false };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        runtime.block_on(async {
            let Ok(mut s) = Session::from_stream_limited(mock, limits).await else {
                return;
            };
            let held_ok = |s: &Session| {
                let (pending, held) = s.conn.framer_held();
                pending <= 100 && held <= max_literal
            };
            assert!(held_ok(&s));
            let message = [AppendMessage { flags: &[], internal_date: None, body: b"abc".into() }];
            for step in 0..7 {
                // Results or errors are both fine; what matters is how they come.
                match step {
                    0 => drop(s.noop().await),
                    1 => drop(s.fetch_meta("1:*").await),
                    2 => drop(s.fetch_bodies(&[10, 11, 12]).await),
                    3 => drop(s.fetch_changed("1:9", 1, true).await),
                    4 => drop(s.search_all_uids().await),
                    5 => drop(s.list().await),
                    _ => drop(s.append(&name("INBOX"), &message).await),
                }
                assert!(held_ok(&s));
            }
        });
    }
}

#[tokio::test]
async fn search_all_uids_with_and_without_esearch() {
    let script = "* OK [CAPABILITY IMAP4rev1 ESEARCH] ready\r\n\
                  * ESEARCH (TAG \"C1\") UID ALL 1:3,5,7:4294967295\r\nC1 OK Search completed.\r\n\
                  * ESEARCH (TAG \"C2\") UID\r\nC2 OK Search completed.\r\n";
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let all = s.search_all_uids().await.unwrap();
        assert_eq!(all.to_string(), "1:3,5,7:4294967295");
        assert_eq!(all.count(), 4 + 4_294_967_289);
        assert!(s.search_all_uids().await.unwrap().is_empty());
        assert_eq!(
            text(&written),
            "C1 UID SEARCH RETURN (ALL) ALL\r\nC2 UID SEARCH RETURN (ALL) ALL\r\n"
        );
    }
    // An answer that cannot be read is not "no UIDs".
    let script = "* OK [CAPABILITY IMAP4rev1 ESEARCH] ready\r\n\
                  * ESEARCH (TAG \"C1\") UID ALL 1:x\r\nC1 OK Search completed.\r\n";
    for (mock, _) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let err = s.search_all_uids().await.unwrap_err();
        assert!(matches!(err, ImapError::Protocol(_)), "{err:?}");
    }
    let script = format!("{GREETING}* SEARCH 9 3 1 2\r\n* SEARCH\r\nC1 OK done\r\n");
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        assert_eq!(s.search_all_uids().await.unwrap().to_string(), "1:3,9");
        assert_eq!(text(&written), "C1 UID SEARCH ALL\r\n");
    }
}

#[tokio::test]
async fn namespaces_as_cyrus_and_dovecot_announce_them() {
    let script = "* OK [CAPABILITY IMAP4rev1 NAMESPACE] Cyrus ready.\r\n\
         * NAMESPACE ((\"INBOX.\" \".\")) ((\"user.\" \".\")) ((\"\" \".\"))\r\n\
         C1 OK Completed\r\n\
         * NAMESPACE ((\"\" \"/\")) NIL NIL\r\n\
         C2 OK Namespace completed.\r\n";
    for (mock, written) in splits(script.as_bytes()) {
        let mut s = Session::from_stream(mock).await.unwrap();
        let cyrus = s.namespaces().await.unwrap().expect("announced");
        let ns = |p: &str, sep: char| crate::Namespace {
            prefix: p.as_bytes().to_vec(),
            separator: Some(sep),
        };
        assert_eq!(cyrus.personal, vec![ns("INBOX.", '.')]);
        assert_eq!(cyrus.other, vec![ns("user.", '.')]);
        assert_eq!(cyrus.shared, vec![ns("", '.')]);
        let dovecot = s.namespaces().await.unwrap().expect("announced");
        assert_eq!(dovecot.personal, vec![ns("", '/')]);
        assert!(dovecot.other.is_empty() && dovecot.shared.is_empty());
        assert_eq!(text(&written), "C1 NAMESPACE\r\nC2 NAMESPACE\r\n");
    }
    // Without the capability nothing is sent.
    let (mock, written) = splits(GREETING.as_bytes()).remove(0);
    let mut s = Session::from_stream(mock).await.unwrap();
    assert_eq!(s.namespaces().await.unwrap(), None);
    assert_eq!(text(&written), "");
}

#[test]
fn mailbox_ids_are_read_only_when_well_formed() {
    use crate::session::parse_mailbox_id;
    assert_eq!(parse_mailbox_id("MAILBOXID (F-1_a)"), Some("F-1_a".into()));
    assert_eq!(parse_mailbox_id("MAILBOXID ()"), None);
    assert_eq!(parse_mailbox_id("MAILBOXID (a b)"), None);
    assert_eq!(parse_mailbox_id("MAILBOXID F1"), None);
    assert_eq!(parse_mailbox_id("UIDNEXT 4"), None);
    assert_eq!(
        parse_mailbox_id(&format!("MAILBOXID ({})", "x".repeat(256))),
        None
    );
}

/// Tokens "t1", "t2", ... with serials 1, 2, ...; records what each call asked.
struct Tokens {
    calls: Mutex<Vec<(String, Option<u64>)>>,
}

#[async_trait::async_trait]
impl BearerTokens for Tokens {
    async fn bearer(&self, user: &str, refused: Option<u64>) -> Result<Bearer, BearerError> {
        let mut calls = self.calls.lock().unwrap();
        calls.push((user.to_string(), refused));
        let n = calls.len() as u64;
        Ok(Bearer {
            token: secret(&format!("t{n}")),
            serial: n,
        })
    }

    fn refused_hint(&self) -> String {
        "grant the application access".into()
    }
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn a_refused_token_is_replaced_once_and_the_servers_json_is_kept() {
    let greeting = "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready.\r\n";
    let json = r#"{"status":"401","schemes":"bearer"}"#;
    // Refused, then taken.
    let script = format!(
        "{greeting}+ {}\r\nC1 NO [AUTHENTICATIONFAILED] Invalid credentials\r\nC2 OK [CAPABILITY IMAP4rev1] Logged in\r\n",
        b64(json)
    );
    for (mock, written) in splits(script.as_bytes()) {
        let tokens = Arc::new(Tokens {
            calls: Mutex::new(Vec::new()),
        });
        let creds = Credentials::OAuth {
            user: "alice@b.test".into(),
            tokens: tokens.clone(),
        };
        let mut s = Session::from_stream(mock).await.unwrap();
        s.authenticate(&creds).await.unwrap();
        assert_eq!(
            text(&written),
            format!(
                "C1 AUTHENTICATE XOAUTH2 {}\r\n\r\nC2 AUTHENTICATE XOAUTH2 {}\r\n",
                b64("user=alice@b.test\x01auth=Bearer t1\x01\x01"),
                b64("user=alice@b.test\x01auth=Bearer t2\x01\x01")
            )
        );
        assert_eq!(
            *tokens.calls.lock().unwrap(),
            [
                ("alice@b.test".to_string(), None),
                ("alice@b.test".to_string(), Some(1))
            ]
        );
    }
    // Refused twice: a failed login with the server's JSON and the hint, no third try.
    let script = format!(
        "{greeting}+ {j}\r\nC1 NO Invalid\r\n+ {j}\r\nC2 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n",
        j = b64(json)
    );
    for (mock, _) in splits(script.as_bytes()) {
        let tokens = Arc::new(Tokens {
            calls: Mutex::new(Vec::new()),
        });
        let creds = Credentials::OAuth {
            user: "alice@b.test".into(),
            tokens: tokens.clone(),
        };
        let mut s = Session::from_stream(mock).await.unwrap();
        let err = s.authenticate(&creds).await.unwrap_err();
        let shown = err.to_string();
        assert!(
            matches!(err, ImapError::AuthenticationFailed { .. }),
            "{err:?}"
        );
        assert!(
            shown.contains(json) && shown.contains("grant the application access"),
            "{shown}"
        );
        assert!(!shown.contains("t1") && !shown.contains("t2"), "{shown}");
        assert_eq!(tokens.calls.lock().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn oauthbearer_without_sasl_ir_waits_for_the_continuation() {
    let greeting = "* OK [CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER AUTH=XOAUTH2] ready.\r\n";
    let script = format!("{greeting}+ \r\nC1 OK [CAPABILITY IMAP4rev1] Logged in\r\n");
    for (mock, written) in splits(script.as_bytes()) {
        let creds = Credentials::OAuth {
            user: "alice@b.test".into(),
            tokens: Arc::new(Tokens {
                calls: Mutex::new(Vec::new()),
            }),
        };
        let mut s = Session::from_stream(mock).await.unwrap();
        s.authenticate(&creds).await.unwrap();
        let sent = text(&written);
        assert!(
            sent.starts_with(&format!(
                "C1 AUTHENTICATE OAUTHBEARER\r\n{}\r\n",
                b64("n,a=alice@b.test,\x01auth=Bearer t1\x01\x01")
            )),
            "{sent}"
        );
    }
}
