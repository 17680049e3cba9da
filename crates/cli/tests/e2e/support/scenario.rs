//! Building blocks of migration scenarios: a source/target pair, a users CSV, JSON
//! fields, and the check that a target holds exactly what the source holds.

use std::collections::BTreeSet;
use std::thread;

use serde_json::Value;

use super::{Dovecot, DovecotOptions, MailServer, diff};

/// A source and a target with the same users, the target refusing messages over 1 MiB
/// (`REFUSE_OVER_1_MIB`: they become large skipped items).
pub fn pair_refusing_large(users: &[&str]) -> (Dovecot, Dovecot) {
    let users: Vec<String> = users.iter().map(|u| u.to_string()).collect();
    start_pair(
        DovecotOptions {
            users: users.clone(),
            ..DovecotOptions::default()
        },
        DovecotOptions {
            users,
            extra_config: super::REFUSE_OVER_1_MIB.to_string(),
            ..DovecotOptions::default()
        },
    )
}

/// Deletes `folder` on the source and makes it again with the same messages (same bytes,
/// flags and dates) and a new UIDVALIDITY, subscribed.
pub fn recreate_folder(src: &Dovecot, user: &str, folder: &str) {
    let messages = src.mailbox(user).folders[folder].clone();
    src.delete_folder(user, folder);
    src.create_folder(user, folder);
    for m in &messages {
        let flags: Vec<&str> = m.flags.iter().map(String::as_str).collect();
        src.write_message(user, folder, &m.body, &flags, m.internal_date);
    }
    src.subscribe(user, folder);
}

/// Starts a source ('/' separator) and a target (given separator) with the same users.
pub fn pair(users: &[&str], target_separator: char) -> (Dovecot, Dovecot) {
    pair_with_source_capability(users, target_separator, "")
}

/// As [`pair`], with the source's post-login CAPABILITY replaced (to switch extensions
/// such as CONDSTORE off); "" keeps Dovecot's.
pub fn pair_with_source_capability(
    users: &[&str],
    target_separator: char,
    capability: &str,
) -> (Dovecot, Dovecot) {
    let users: Vec<String> = users.iter().map(|u| u.to_string()).collect();
    start_pair(
        DovecotOptions {
            users: users.clone(),
            imap_capability: capability.to_string(),
            ..DovecotOptions::default()
        },
        DovecotOptions {
            users,
            separator: target_separator,
            ..DovecotOptions::default()
        },
    )
}

/// Starts a source and a target with these options, side by side.
pub fn start_pair(source: DovecotOptions, target: DovecotOptions) -> (Dovecot, Dovecot) {
    let src = thread::spawn(move || Dovecot::start("src", source));
    let dst = thread::spawn(move || Dovecot::start("dst", target));
    (src.join().expect("source"), dst.join().expect("target"))
}

pub fn users_csv(rows: &[(&str, &str, &str)]) -> String {
    let mut s = String::from("EmailAddress,UserName,Password\n");
    for (email, login, password) in rows {
        s.push_str(&format!("{email},{login},{password}\n"));
    }
    s
}

pub fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.get(name).unwrap_or_else(|| panic!("no {name} in {v:#}"))
}

/// The target holds every message of every selectable source folder exactly (see [`diff`]),
/// every source folder and every subscription; Dovecot or Cyrus on either side.
pub fn assert_same_mailbox(src: &impl MailServer, dst: &impl MailServer, user: &str) {
    let (s, d) = (src.mailbox(user), dst.mailbox(user));
    let lines = diff(&s, &d);
    assert!(
        lines.is_empty(),
        "{user}: target differs from source:\n{}\ntarget log:\n{}",
        lines.join("\n"),
        dst.log()
    );
    // Subscriptions of names that are no folder (servers keep them after a RENAME or a
    // DELETE) are no one's mail, and a copy need not carry them.
    for folder in s.subscribed.iter().filter(|f| s.folders.contains_key(*f)) {
        assert!(
            d.subscribed.contains(folder),
            "{user}: {folder} not subscribed on the target"
        );
    }
    for folder in &s.selectable {
        assert!(
            d.selectable.contains(folder),
            "{user}: {folder} missing on the target"
        );
    }
}

/// The target subscribes exactly what the source subscribes, except `users_own`: folders
/// whose subscription the user changed on the target, which must differ.
pub fn assert_same_subscriptions(
    src: &impl MailServer,
    dst: &impl MailServer,
    user: &str,
    users_own: &[&str],
) {
    // Only subscriptions of existing folders (see assert_same_mailbox).
    let existing = |m: super::MailboxSnapshot| -> BTreeSet<String> {
        m.subscribed
            .into_iter()
            .filter(|f| m.folders.contains_key(f))
            .collect()
    };
    let (s, d) = (existing(src.mailbox(user)), existing(dst.mailbox(user)));
    let differ: BTreeSet<&str> = s.symmetric_difference(&d).map(String::as_str).collect();
    assert_eq!(
        differ,
        users_own.iter().copied().collect::<BTreeSet<&str>>(),
        "{user}: subscriptions differ where they should not\nsource: {s:?}\ntarget: {d:?}"
    );
}

/// The benchmark kit's independent checker (`../shared/bench/verify.py` beside the
/// repository, Python's imaplib), as a second opinion on source and target: every
/// message of every folder, by SHA-256, flags and INTERNALDATE. Folder names must be
/// the same on both sides. Where the kit is not beside the repository (a lone clone),
/// this says so and leaves the check to `assert_same_mailbox`.
pub fn verify_independently(src: &Dovecot, dst: &Dovecot, users: &[&str]) {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/verify.py");
    if !script.exists() {
        eprintln!(
            "note: {} not found; independent check not run",
            script.display()
        );
        return;
    }
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(src.port().to_string())
        .arg(dst.port().to_string())
        .args(["--user-list", &users.join(",")])
        .output()
        .expect("run python3 verify.py (apt-get install python3)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(" 0 mismatches"),
        "verify.py disagrees:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The steps `batch plan --format json` lists for `user`, as text.
pub fn planned_steps(plan: &Value, user: &str) -> Vec<String> {
    let users = plan.as_array().expect("one object per user");
    let mine = users
        .iter()
        .find(|u| u["User"] == user)
        .unwrap_or_else(|| panic!("no plan for {user}: {plan:#}"));
    assert!(mine["Error"].is_null(), "{plan:#}");
    mine["Steps"]
        .as_array()
        .expect("Steps")
        .iter()
        .map(|s| s["Step"].as_str().expect("Step text").to_string())
        .collect()
}

/// The steps a pass's log (at `info`) says it applied for `user`, in order.
pub fn applied_steps(log: &str, user: &str) -> Vec<String> {
    let who = format!("user=\"{user}\"");
    log.lines()
        .filter(|l| l.contains("step applied") && l.contains(&who))
        .map(|l| {
            let at = l.find(" step=").expect("a step field") + " step=".len();
            l[at..].trim().to_string()
        })
        .collect()
}
