//! Large messages travel whole into temporary files, as they arrive: sizes on and
//! around the 1 MiB edge where that begins, and one above the size where APPEND waits for
//! the server's `+`, arrive byte for byte, also with a memory budget smaller than a chunk.

use crate::support::{Cutover, assert_same_mailbox, field, pair, verify_independently};

const MIB: usize = 1024 * 1024;

/// A message of exactly `size` bytes on the wire (CRLF line ends), its body lines
/// varying with `seed`.
fn message_of_size(size: usize, seed: usize) -> Vec<u8> {
    let mut m = format!(
        "From: sender{seed}@partner.example\r\nTo: alice@contoso.test\r\n\
         Subject: message of {size} bytes\r\nMessage-ID: <size.{seed}.{size}@partner.example>\r\n\
         Date: Tue, 3 Jun 2025 09:00:00 +0000\r\nContent-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut n = seed as u64;
    while m.len() < size {
        let left = size - m.len();
        let line = left.min(78);
        if line <= 2 {
            // Too short for text and CRLF: pad the previous line instead.
            let at = m.len() - 2;
            m.splice(at..at, std::iter::repeat_n(b'=', left));
            break;
        }
        for _ in 0..line - 2 {
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            m.push(alphabet[(n >> 58) as usize]);
        }
        m.extend_from_slice(b"\r\n");
    }
    assert_eq!(m.len(), size);
    m
}

#[test]
fn large_messages_around_the_spool_edge_arrive_byte_for_byte() {
    let user = "alice@contoso.test";
    let (src, dst) = pair(&[user], '/');
    // Spooled above 1 MiB; non-synchronizing literals up to 8 MiB.
    let sizes = [
        2_000,
        MIB + 1,
        2 * MIB,
        3_000,
        4 * MIB,
        4 * MIB + 10,
        MIB + 500_000,
        9 * MIB + 7,
        5_000,
        3 * MIB - 1,
    ];
    for (i, &size) in sizes.iter().enumerate() {
        let flags: &[&str] = if i % 2 == 0 { &["\\Seen"] } else { &[] };
        src.write_message(
            user,
            "INBOX",
            &message_of_size(size, i),
            flags,
            1_700_000_000 + i as i64,
        );
    }
    // A folder of large messages only, all in one window.
    for i in 0..3 {
        src.write_message(
            user,
            "Archive",
            &message_of_size(MIB + 100 * i, 100 + i),
            &[],
            1_710_000_000,
        );
    }
    src.index(user);

    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", user);
    cutover.start_batch(&[(user, "", "")], &[]);
    // Smaller than a chunk's worth of large messages: the budget still lets it through.
    let (run, log) = cutover.run_logged("debug,sqlx=warn", &[("CUTOVER_MEMORY_MIB", "2")]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    assert_eq!(field(&run[0], "ItemsCopied"), sizes.len() + 3, "{run:#}");
    // Pieces went several per round trip.
    assert!(log.contains("pipelined"), "{log}");
    assert_same_mailbox(&src, &dst, user);
    verify_independently(&src, &dst, &[user]);
}
