//! Provisioning the target organization: the target OpenLDAP that a target Dovecot
//! authenticates against ([`TargetOrganization`]).

use crate::support::TargetOrganization;

/// The fixture itself: a user whose entry exists logs in with the directory's
/// password; the password policy's lock stops that login (and only that: cutover's
/// master user still reaches the mailbox); removing the lock lets the user in again.
#[test]
fn the_target_dovecot_logs_in_the_directory_users_unless_locked() {
    let target = TargetOrganization::shared();
    let user = "fixture.lock@contoso.test";
    let dn = TargetOrganization::person_dn(user);
    target.directory.modify(&format!(
        "dn: {dn}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: {user}\ncn: Fixture Lock\n\
         sn: Lock\nmail: {user}\nuserPassword: Secret.1\n"
    ));
    assert!(
        target.can_log_in(user, "Secret.1"),
        "{}",
        target.dovecot.log()
    );
    assert!(!target.can_log_in(user, "wrong"));
    assert!(!target.can_log_in("nobody@contoso.test", "Secret.1"));

    target.lock(&dn);
    assert!(
        !target.can_log_in(user, "Secret.1"),
        "a locked entry logged in: {}",
        target.directory.log()
    );
    assert!(!target.directory.can_bind(&dn, "Secret.1"));
    assert!(
        target.can_log_in(&format!("{user}*admin"), "adminpass"),
        "the master user: {}",
        target.dovecot.log()
    );

    target.unlock(&dn);
    assert!(target.can_log_in(user, "Secret.1"));
}
