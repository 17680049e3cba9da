//! The maildir side of the fixture: byte forms (disk vs. IMAP wire), file names, keywords.
//!
//! Dovecot stores messages with LF line ends (`mail_save_crlf = no`) and serves them over
//! IMAP with every LF not already preceded by CR turned into CRLF, a bare CR left alone, and
//! NUL replaced by 0x80 (checked against Dovecot 2.3.19 with a raw `BODY.PEEK[]`).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// The form written to disk: CRLF becomes LF, everything else stays.
pub fn to_disk_form(wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(wire.len());
    let mut i = 0;
    while i < wire.len() {
        if wire[i] == b'\r' && wire.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(wire[i]);
        i += 1;
    }
    out
}

/// What an IMAP client receives for bytes stored on disk (see the module comment).
pub fn to_wire_form(disk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(disk.len() + disk.len() / 40);
    let mut prev = 0u8;
    for &b in disk {
        match b {
            b'\n' if prev != b'\r' => out.extend_from_slice(b"\r\n"),
            0 => out.push(0x80),
            _ => out.push(b),
        }
        prev = b;
    }
    out
}

/// The maildir info letter of a system flag (`\Seen` -> `S`), case-insensitive.
/// `None` for keywords; panics on `\Recent` or an unknown system flag.
pub fn system_flag_letter(flag: &str) -> Option<char> {
    if !flag.starts_with('\\') {
        return None;
    }
    match flag.to_ascii_lowercase().as_str() {
        "\\seen" => Some('S'),
        "\\answered" => Some('R'),
        "\\flagged" => Some('F'),
        "\\draft" => Some('D'),
        "\\deleted" => Some('T'),
        other => panic!("write_message: cannot store system flag {other:?}"),
    }
}

/// Keyword letters of one maildir folder, kept in its `dovecot-keywords` file
/// (`<index> <name>` per line, index 0 = letter `a`).
pub fn keyword_letter(folder_dir: &Path, keyword: &str, owner: (u32, u32)) -> char {
    let file = folder_dir.join("dovecot-keywords");
    let text = fs::read_to_string(&file).unwrap_or_default();
    let mut slots: Vec<Option<String>> = Vec::new();
    for line in text.lines() {
        if let Some((idx, name)) = line.split_once(' ')
            && let Ok(idx) = idx.parse::<usize>()
        {
            if slots.len() <= idx {
                slots.resize(idx + 1, None);
            }
            slots[idx] = Some(name.to_string());
        }
    }
    if let Some(idx) = slots.iter().position(|s| s.as_deref() == Some(keyword)) {
        return letter(idx, keyword);
    }
    let idx = slots
        .iter()
        .position(Option::is_none)
        .unwrap_or(slots.len());
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .unwrap_or_else(|e| panic!("open {}: {e}", file.display()));
    if !text.is_empty() && !text.ends_with('\n') {
        writeln!(f).unwrap();
    }
    writeln!(f, "{idx} {keyword}").unwrap();
    chown(&file, Some(owner.0), Some(owner.1)).unwrap();
    letter(idx, keyword)
}

fn letter(idx: usize, keyword: &str) -> char {
    assert!(
        idx < 26,
        "maildir holds at most 26 keywords per folder ({keyword:?})"
    );
    (b'a' + idx as u8) as char
}

/// Makes `dir` (and its `cur`, `new`, `tmp`) exist, owned by the mail user.
pub fn ensure_maildir(dir: &Path, owner: (u32, u32)) {
    for sub in ["", "cur", "new", "tmp"] {
        let d = dir.join(sub);
        if !d.is_dir() {
            fs::create_dir_all(&d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
            fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
            chown(&d, Some(owner.0), Some(owner.1)).unwrap();
        }
    }
}

/// Writes one message file into `dir/cur` the way a delivery agent would: through `tmp/`,
/// name `<time>.M<n>P<pid>.cutover,S=<disk size>,W=<wire size>:2,<sorted letters>`,
/// mtime = INTERNALDATE.
pub fn deliver(
    dir: &Path,
    disk: &[u8],
    letters: &str,
    internal_date: i64,
    unique: u64,
    owner: (u32, u32),
) {
    let wire_size = to_wire_form(disk).len();
    let base = format!(
        "{internal_date}.M{unique}P{}.cutover,S={},W={wire_size}",
        std::process::id(),
        disk.len()
    );
    let tmp = dir.join("tmp").join(&base);
    let cur = dir.join("cur").join(format!("{base}:2,{letters}"));
    let mut f = fs::File::create(&tmp).unwrap_or_else(|e| panic!("create {}: {e}", tmp.display()));
    f.write_all(disk).unwrap();
    let mtime = if internal_date >= 0 {
        UNIX_EPOCH + Duration::from_secs(internal_date as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(internal_date.unsigned_abs())
    };
    f.set_modified(mtime).unwrap();
    drop(f);
    chown(&tmp, Some(owner.0), Some(owner.1)).unwrap();
    fs::rename(&tmp, &cur).unwrap_or_else(|e| panic!("rename to {}: {e}", cur.display()));
}

#[test]
fn wire_and_disk_forms() {
    assert_eq!(to_disk_form(b"a\r\nb\rc\n"), b"a\nb\rc\n");
    assert_eq!(to_wire_form(b"a\nb\rc\r\nd\0"), b"a\r\nb\rc\r\nd\x80");
    assert_eq!(to_wire_form(&to_disk_form(b"x\r\ny\r\n")), b"x\r\ny\r\n");
}
