//! A deterministic, realistic mailbox: the shapes a migration trips over (nested and
//! non-ASCII folder names, `&` in a name, an empty folder, 8-bit bodies, RFC 2047 headers,
//! system flags and keywords, dates over a decade, optionally one multi-MB attachment).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::MailServer;

/// (folder, weight); `Archive` and `Projects/a` exist only as parents.
const FOLDERS: &[(&str, u32)] = &[
    ("INBOX", 36),
    ("Sent", 14),
    ("Drafts", 3),
    ("Archive/2024", 12),
    ("Archive/2025", 10),
    ("Projects", 4),
    ("Projects/a/b", 6),
    ("Éléments envoyés", 8),
    ("R&D", 7),
];
const EMPTY_FOLDER: &str = "Archive/Empty";
const KEYWORDS: &[(&str, u64)] = &[("$Label1", 6), ("NonJunk", 12), ("ProjectX", 6)];
const WORDS: &[&str] = &[
    "project",
    "meeting",
    "budget",
    "report",
    "schedule",
    "review",
    "invoice",
    "contract",
    "server",
    "migration",
    "mailbox",
    "folder",
    "quarterly",
    "update",
    "attached",
    "regards",
    "deadline",
    "customer",
    "ticket",
    "release",
    "backup",
    "agenda",
    "minutes",
    "friday",
];
const WORDS_UTF8: &[&str] = &[
    "réunion",
    "équipe",
    "prévisionnel",
    "déjà",
    "reçu",
    "Größe",
    "Straße",
    "日本語",
    "会議",
    "données",
    "café",
    "résumé",
    "Übersicht",
];
const Y2015: i64 = 1_420_070_400;
const Y2024: i64 = 1_704_067_200;
const Y2025: i64 = 1_735_689_600;
const Y2026: i64 = 1_767_225_600;

/// Fills `user`'s mailbox with `messages` messages (one of them a 3-6 MB attachment when
/// `big`), creates and subscribes all folders, then indexes. Same seed, same bytes.
pub fn fill_realistic_mailbox(
    server: &impl MailServer,
    user: &str,
    messages: usize,
    seed: u64,
    big: bool,
) {
    let mut rng = Rng::new(seed ^ fnv(user.as_bytes()));
    for (folder, _) in FOLDERS.iter().filter(|(f, _)| *f != "INBOX") {
        server.create_folder(user, folder);
    }
    server.create_folder(user, EMPTY_FOLDER);
    for folder in FOLDERS.iter().map(|(f, _)| *f).chain([EMPTY_FOLDER]) {
        server.subscribe(user, folder);
    }
    let total: u32 = FOLDERS.iter().map(|(_, w)| w).sum();
    let big_index = big.then_some(messages / 2);
    for i in 0..messages {
        // the first messages visit every folder once, so small mailboxes still cover them all
        let folder = if let Some((first_visit, _)) = FOLDERS.get(i) {
            first_visit
        } else {
            let mut pick = rng.below(total as u64) as u32;
            FOLDERS
                .iter()
                .find(|(_, w)| {
                    let hit = pick < *w;
                    pick = pick.saturating_sub(*w);
                    hit
                })
                .unwrap()
                .0
        };
        let folder = if big_index == Some(i) {
            "Archive/2024"
        } else {
            folder
        };
        let date = match folder {
            "Archive/2024" => rng.range(Y2024, Y2025),
            "Archive/2025" => rng.range(Y2025, Y2026),
            _ => rng.range(Y2015, Y2026),
        };
        let body = message(&mut rng, seed, user, i, folder, date, big_index == Some(i));
        let flags = flags(&mut rng, i, folder);
        server.write_message(user, folder, &body, &flags, date);
    }
    server.index(user);
}

fn flags(rng: &mut Rng, i: usize, folder: &str) -> Vec<&'static str> {
    let mut flags = Vec::new();
    match folder {
        "Drafts" => flags.extend(["\\Draft", "\\Seen"]),
        "Sent" | "Éléments envoyés" => flags.push("\\Seen"),
        _ => {
            if rng.chance(80) {
                flags.push("\\Seen");
            }
            if rng.chance(15) || i == 1 {
                flags.push("\\Answered");
            }
        }
    }
    if rng.chance(6) || i == 0 {
        flags.push("\\Flagged");
    }
    for (k, (keyword, percent)) in KEYWORDS.iter().enumerate() {
        // messages 0..3 carry one keyword each, so every keyword is present
        if rng.chance(*percent) || i == k {
            flags.push(keyword);
        }
    }
    flags
}

fn message(
    rng: &mut Rng,
    seed: u64,
    user: &str,
    i: usize,
    folder: &str,
    date: i64,
    big: bool,
) -> Vec<u8> {
    let partner = format!(
        "{}.{}@partner{}.example",
        rng.pick(&["alice", "bob", "dmitri", "eve", "francois"]),
        rng.below(99),
        rng.below(9)
    );
    let sent = matches!(folder, "Sent" | "Drafts" | "Éléments envoyés");
    let (from, to) = if sent {
        (user.to_string(), partner)
    } else {
        (partner, user.to_string())
    };
    let utf8 = rng.chance(30);
    let n = 3 + rng.below(6) as usize;
    let subject_text = words(rng, n, utf8);
    let subject = if utf8 && rng.chance(80) {
        format!("=?utf-8?B?{}?=", B64.encode(subject_text.as_bytes()))
    } else {
        subject_text // raw 8-bit UTF-8 when utf8: real mailers do send it
    };
    let from_header = match rng.below(10) {
        0 => format!("=?utf-8?q?Chlo=C3=A9_Dupr=C3=A9?= <{from}>"),
        1 => format!("Jürgen Groß <{from}>"),
        _ => format!("<{from}>"),
    };
    let mut head = String::new();
    for hop in 0..1 + rng.below(3) {
        head.push_str(&format!(
            "Received: from mx{hop}.partner.example (mx{hop}.partner.example [192.0.2.{}])\n\
             \tby mail.example.test with ESMTPS id {:012x}\n\tfor <{to}>; {}\n",
            1 + rng.below(254),
            rng.next() >> 16,
            rfc2822(date - 1)
        ));
    }
    head.push_str(&format!(
        "From: {from_header}\nTo: {to}\nSubject: {subject}\nDate: {}\n\
         Message-ID: <{seed}.{i}.{:08x}.{}>\nMIME-Version: 1.0\n",
        rfc2822(date - 60 - rng.below(900) as i64),
        rng.next() as u32,
        user.replace('@', "@fixture.")
    ));
    let cte = if utf8 { "8bit" } else { "7bit" };
    let boundary = format!("=_cutover_{:016x}", rng.next());
    let n = 300 + rng.below(6000) as usize;
    let text = paragraphs(rng, n, utf8);
    let body = if big {
        let size = 3_000_000 + rng.below(3_000_000) as usize;
        attachment(&mut *rng, &boundary, cte, &text, "archive.zip", size)
    } else {
        match rng.below(3) {
            0 => format!(
                "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: {cte}\n\n{text}"
            ),
            1 => {
                let html: String = text
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(|l| format!("<p>{l}</p>\n"))
                    .collect();
                format!(
                    "Content-Type: multipart/alternative; boundary=\"{boundary}\"\n\n\
                     --{boundary}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: {cte}\n\n{text}\n\
                     --{boundary}\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: {cte}\n\n\
                     <html><body>\n{html}</body></html>\n\n--{boundary}--\n"
                )
            }
            _ => {
                let name = *rng.pick(&["invoice.pdf", "notes.docx", "rapport-été.pdf"]);
                let size = 200 + rng.below(20_000) as usize;
                attachment(rng, &boundary, cte, &text, name, size)
            }
        }
    };
    format!("{head}{body}").into_bytes()
}

fn attachment(
    rng: &mut Rng,
    boundary: &str,
    cte: &str,
    text: &str,
    name: &str,
    size: usize,
) -> String {
    let data: Vec<u8> = (0..size.div_ceil(8))
        .flat_map(|_| rng.next().to_le_bytes())
        .take(size)
        .collect();
    let encoded = B64.encode(data);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let disposition = if name.is_ascii() {
        format!("filename=\"{name}\"")
    } else {
        let escaped: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("filename*=utf-8''{escaped}")
    };
    format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\n\n\
         This is a multi-part message in MIME format.\n\n\
         --{boundary}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: {cte}\n\n{text}\n\
         --{boundary}\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\
         Content-Disposition: attachment; {disposition}\n\n{}\n\n--{boundary}--\n",
        lines.join("\n")
    )
}

fn words(rng: &mut Rng, n: usize, utf8: bool) -> String {
    (0..n)
        .map(|_| {
            if utf8 && rng.chance(30) {
                *rng.pick(WORDS_UTF8)
            } else {
                *rng.pick(WORDS)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn paragraphs(rng: &mut Rng, bytes: usize, utf8: bool) -> String {
    let mut out = String::new();
    while out.len() < bytes {
        let n = 6 + rng.below(8) as usize;
        out.push_str(&words(rng, n, utf8));
        out.push_str(if rng.chance(15) { "\n\n" } else { "\n" });
    }
    out
}

/// RFC 2822 date in UTC.
fn rfc2822(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // civil-from-days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!(
        "{weekday}, {day:02} {mon} {year} {:02}:{:02}:{:02} +0000",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// SplitMix64: tiny, deterministic across platforms and crate versions.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as u64) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[test]
fn rfc2822_dates() {
    assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
    assert_eq!(rfc2822(1_709_210_096), "Thu, 29 Feb 2024 12:34:56 +0000");
}

/// A small plain message from Zoe to `to`, its Message-ID made from `subject`.
pub fn simple_message(to: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: Zoe <zoe@partner.test>\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@partner.test>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0100\r\n\r\n\
         Body of {subject}.\r\n"
    )
    .into_bytes()
}

/// An attachment-sized message to `to` (about `size` bytes of base64), different for
/// each `n`: it deflates about 4:3, as attachments do.
pub fn attachment_message(to: &str, n: u64, size: usize) -> Vec<u8> {
    let mut out = format!(
        "From: Carol <carol@fabrikam.test>\r\nTo: <{to}>\r\nSubject: Scan {n}\r\n\
         Message-ID: <scan-{n}@fabrikam.test>\r\nDate: Mon, 3 Jun 2024 10:{:02}:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: application/pdf; name=\"scan-{n}.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n",
        n % 60
    )
    .into_bytes();
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x = n
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    while out.len() < size {
        for _ in 0..76 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            out.push(ALPHABET[(x >> 58) as usize]);
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}
