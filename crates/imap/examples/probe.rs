//! Connect, log in with admin PLAIN, list mailboxes, log out.
//!
//! cargo run -p cutover-imap --example probe -- 127.0.0.1 10993 tls [ca.pem]

use cutover_imap::{Credentials, ServerAddr, Session, TlsOptions};
use secrecy::SecretString;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = ServerAddr {
        host: args.first().cloned().unwrap_or_else(|| "127.0.0.1".into()),
        port: args.get(1).map_or(Ok(10143), |p| p.parse())?,
        security: args
            .get(2)
            .map_or(Ok(cutover_imap::Security::None), |s| s.parse())?,
    };
    let tls = TlsOptions {
        ca_file: args.get(3).map(Into::into),
    };
    let mut session = match Session::connect(&addr, &tls).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    session
        .authenticate(&Credentials::Plain {
            authzid: Some("user1@example.test".into()),
            authcid: "admin".into(),
            password: SecretString::from("adminpass".to_string()),
        })
        .await?;
    for mailbox in session.list().await? {
        eprintln!("{} {:?}", mailbox.name, mailbox.attributes);
    }
    session.logout().await?;
    Ok(())
}
