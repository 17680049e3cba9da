//! Hand check against two local Dovecots (`shared/bench/servers.sh start`): copies one
//! user's mailboxes from 127.0.0.1:10143 to 127.0.0.1:11143 with admin PLAIN logins,
//! then fetches everything back from the target and compares bytes.
//!
//! cargo run -p cutover-imap --example copy_user -- user1@example.test adminpass

use cutover_imap::{
    AppendMessage, CreateOutcome, Credentials, ImapError, Security, ServerAddr, Session, TlsOptions,
};
use secrecy::SecretString;

async fn login(port: u16, user: &str, password: &str) -> Result<Session, ImapError> {
    let addr = ServerAddr {
        host: "127.0.0.1".into(),
        port,
        security: Security::None,
    };
    let mut s = Session::connect(&addr, &TlsOptions::default()).await?;
    s.authenticate(&Credentials::Plain {
        authzid: Some(user.into()),
        authcid: "admin".into(),
        password: SecretString::from(password.to_string()),
    })
    .await?;
    Ok(s)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let user = args.next().unwrap_or_else(|| "user1@example.test".into());
    let password = args.next().unwrap_or_else(|| "adminpass".into());
    let mut src = login(10143, &user, &password).await?;
    let mut dst = login(11143, &user, &password).await?;
    eprintln!("source capabilities: {:?}", src.capabilities());
    let (mut copied, mut bytes) = (0usize, 0usize);
    for mailbox in src.list().await? {
        if !mailbox.is_selectable() {
            continue;
        }
        let sel = src.examine(&mailbox.name).await?;
        let created = dst.create(&mailbox.name).await?;
        eprintln!(
            "{} ({:?}): {} messages, uidvalidity {}, target {created:?}",
            mailbox.name,
            mailbox.delimiter,
            sel.exists.unwrap_or(0),
            sel.uid_validity
        );
        if sel.exists == Some(0) {
            continue;
        }
        let metas = src.fetch_meta("1:*").await?;
        let mut originals = Vec::new();
        for chunk in metas.chunks(50) {
            let uids: Vec<u32> = chunk.iter().map(|m| m.uid).collect();
            let bodies = src.fetch_bodies(&uids).await?;
            for ((uid, body), meta) in bodies.into_iter().zip(chunk) {
                assert_eq!(uid, meta.uid);
                let body = body?;
                assert_eq!(body.len(), meta.size as usize, "UID {uid} size");
                originals.push((meta.clone(), body));
            }
        }
        let mut target_uids = Vec::new();
        for chunk in originals.chunks(20) {
            let messages: Vec<AppendMessage<'_>> = chunk
                .iter()
                .map(|(meta, body)| AppendMessage {
                    flags: &meta.flags,
                    internal_date: Some(meta.internal_date),
                    body: body.into(),
                })
                .collect();
            let result = dst.append(&mailbox.name, &messages).await?;
            target_uids.extend(result.uids);
        }
        // Read back and compare.
        dst.examine(&mailbox.name).await?;
        let uids: Vec<u32> = target_uids.iter().map(|u| u.expect("APPENDUID")).collect();
        let back_meta = dst.fetch_meta("1:*").await?;
        for ((meta, body), uid) in originals.iter().zip(&uids) {
            let back = dst.fetch_bodies(&[*uid]).await?;
            assert_eq!(back.len(), 1);
            assert_eq!(back[0].1.as_ref().unwrap(), body, "body of UID {uid}");
            let bm = back_meta.iter().find(|m| m.uid == *uid).expect("meta");
            assert_eq!(bm.internal_date, meta.internal_date);
            let mut a = bm.flags.clone();
            let mut b = meta.flags.clone();
            a.sort();
            b.sort();
            assert_eq!(a, b, "flags of UID {uid}");
            let piece = dst.fetch_body_piece(*uid, 10, 100).await?;
            assert_eq!(piece, body[10.min(body.len())..110.min(body.len())]);
            copied += 1;
            bytes += body.len();
        }
        if created == CreateOutcome::Created {
            dst.subscribe(&mailbox.name).await?;
        }
    }
    eprintln!("copied and verified {copied} messages, {bytes} bytes");
    src.logout().await?;
    dst.logout().await?;
    Ok(())
}
