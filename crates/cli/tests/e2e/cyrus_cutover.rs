//! cutover between Dovecot and Cyrus, both ways, with Cyrus in its built-in namespace
//! (`altnamespace`, '/' separator: folders beside INBOX, as on Dovecot). Checked from each
//! side by the fixtures (doveadm; imaplib for Cyrus), not by our IMAP code.

use std::thread;

use crate::support::{
    Cutover, Cyrus, CyrusOptions, Dovecot, DovecotOptions, MailServer, assert_same_mailbox, field,
    fill_realistic_mailbox,
};

const USERS: [&str; 2] = ["alice@contoso.test", "bob@contoso.test"];

/// Cyrus's default `munge8bit: yes` would store the corpus's raw UTF-8 header bytes as 'X'
/// on APPEND, so no copy to it could be exact; this Cyrus keeps them.
fn cyrus() -> Cyrus {
    Cyrus::start(
        "cyrus",
        CyrusOptions {
            munge8bit: false,
            ..CyrusOptions::default()
        },
    )
}

/// Fills the source, runs the batch once, checks both users, then an incremental pass
/// that must copy nothing and leave the target as it was.
fn cutover_moves_everything(src: &impl MailServer, dst: &impl MailServer) {
    fill_realistic_mailbox(src, USERS[0], 40, 21, true);
    fill_realistic_mailbox(src, USERS[1], 20, 22, false);
    let cutover = Cutover::new();
    cutover.connect_ports(src.port(), dst.port(), "authzid", USERS[0]);
    cutover.start_batch(&USERS.map(|u| (u, "", "")), &[]);

    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    assert_eq!(field(&run[0], "ItemsCopied"), 60);
    for u in USERS {
        assert_same_mailbox(src, dst, u);
    }

    let before: Vec<_> = USERS.iter().map(|u| dst.mailbox(u)).collect();
    cutover.ok(&["batch", "start", "CutoverBatch"]);
    let again = cutover.json(&["run", "--once"]);
    assert_eq!(field(&again[0], "ItemsCopied"), 0, "{again:#}");
    assert_eq!(field(&again[0], "Status"), "Synced");
    for (u, b) in USERS.iter().zip(&before) {
        assert_eq!(
            &dst.mailbox(u),
            b,
            "{u}: the second pass changed the target"
        );
    }
}

#[test]
fn dovecot_to_cyrus_moves_byte_exact_and_a_second_pass_copies_nothing() {
    let dst = thread::spawn(cyrus);
    let src = Dovecot::start("src", DovecotOptions::default());
    cutover_moves_everything(&src, &dst.join().unwrap());
}

#[test]
fn cyrus_to_dovecot_moves_byte_exact_and_a_second_pass_copies_nothing() {
    let src = thread::spawn(cyrus);
    let dst = Dovecot::start("dst", DovecotOptions::default());
    cutover_moves_everything(&src.join().unwrap(), &dst);
}
