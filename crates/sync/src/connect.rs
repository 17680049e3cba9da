//! Opening a session to one side of a pass: connect with the operator's limits, log in
//! as the side's credentials say, and turn COMPRESS on when the side asks for it.

use cutover_imap::{Limits, Session};

use crate::credentials::Side;
use crate::pass::{Role, SyncError};

pub(crate) async fn open(side: &Side, role: Role) -> Result<Session, SyncError> {
    let addr = side.addr.to_string();
    let connect_err = |source| SyncError::Connect {
        role,
        addr: addr.clone(),
        source,
    };
    // The operator's CUTOVER_IMAP_* limits and timeouts, read here for every session.
    let limits = Limits::from_env().map_err(connect_err)?;
    let mut session = Session::connect_limited(&side.addr, &[], &side.tls, limits)
        .await
        .map_err(connect_err)?;
    session
        .authenticate(&side.credentials)
        .await
        .map_err(|source| SyncError::Login {
            role,
            addr,
            identity: side.credentials.identity().to_string(),
            source,
        })?;
    if side.compress.wanted() {
        session
            .compress()
            .await
            .map_err(|source| SyncError::Imap { role, source })?;
    }
    Ok(session)
}

/// Logs `session` out without waiting for the server's answer: after a complete pass a
/// LOGOUT's answer changes nothing (every append was already answered), and on a
/// distant server waiting for it costs a round trip per mailbox and per copy lane.
pub(crate) fn close(session: Session) {
    tokio::spawn(async move {
        let _ = session.logout().await;
    });
}
