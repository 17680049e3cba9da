//! `cutover batch plan`: the steps the next pass would take, read from both servers and
//! the state without changing either; the pass then takes exactly those steps (its log
//! names each one as it applies it), and afterwards nothing is left to do.

use crate::support::{
    Cutover, applied_steps, assert_same_mailbox, field, fill_realistic_mailbox, pair, planned_steps,
};

const USER: &str = "alice@contoso.test";

fn message(subject: &str) -> Vec<u8> {
    crate::support::simple_message(USER, subject)
}

#[test]
fn the_plan_of_a_changed_source_lists_its_steps_and_the_pass_takes_exactly_those() {
    let (src, dst) = pair(&[USER], '/');
    fill_realistic_mailbox(&src, USER, 40, 11, false);
    src.create_folder(USER, "Old");
    src.index(USER);
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", USER);
    cutover.start_batch(&[(USER, "", "")], &[]);
    let run = cutover.json(&["run", "--once"]);
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}");
    // Nothing changed since: nothing to do.
    assert_eq!(
        planned_steps(&cutover.json(&["batch", "plan", "CutoverBatch"]), USER),
        Vec::<String>::new()
    );

    // The source changes: new mail, a flag, an expunge, a new subscribed folder with
    // mail, an unsubscription, a rename and the deletion of an empty folder.
    let new_mail = message("new-in-inbox");
    src.write_message(USER, "INBOX", &new_mail, &[], 1_790_000_000);
    let project = message("new-project");
    src.write_message(USER, "Projects 2027", &project, &["\\Seen"], 1_790_000_100);
    src.subscribe(USER, "Projects 2027");
    src.index(USER);
    let inbox = src.uids(USER, "INBOX");
    src.change_flags(USER, "INBOX", inbox[0], true, &["\\Flagged"]);
    src.expunge(USER, "INBOX", inbox[1]);
    src.unsubscribe(USER, "Drafts");
    src.rename_folder(USER, "R&D", "Research");
    src.delete_folder(USER, "Old");

    // The plan reads both servers and the state, and changes neither.
    let target_before = dst.mailbox(USER);
    let state_before = cutover.ok(&["state", "dump"]);
    let plan = cutover.json(&["batch", "plan", "CutoverBatch", "--user", USER]);
    assert_eq!(
        dst.mailbox(USER),
        target_before,
        "batch plan changed the target"
    );
    assert_eq!(
        cutover.ok(&["state", "dump"]),
        state_before,
        "batch plan changed the state"
    );
    let steps = planned_steps(&plan, USER);
    let mut expected = vec![
        "follow the source's rename of 'R&D' to 'Research': rename 'R&D' to 'Research' on the target and unsubscribe the old name".to_string(),
        "create the folder 'Projects 2027' on the target".into(),
        "subscribe to 'Projects 2027' on the target".into(),
        "unsubscribe from 'Drafts' on the target".into(),
        "delete the folder 'Old' on the target (deleted on the source as 'Old'; 0 messages migrated)".into(),
        "change the flags of 1 message in 'INBOX'".into(),
        "remove 1 message from 'INBOX' (expunged on the source in 'INBOX')".into(),
        format!("copy 1 message ({} B) from 'INBOX' to 'INBOX'", new_mail.len()),
        "save the checkpoint of 'INBOX'".into(),
        format!(
            "copy 1 message ({} B) from 'Projects 2027' to 'Projects 2027'",
            project.len()
        ),
        "save the checkpoint of 'Projects 2027'".into(),
    ];
    let mut sorted = steps.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "{plan:#}");
    // Folder steps before the messages, and each folder's checkpoint after its copies.
    let at = |s: &str| steps.iter().position(|x| x.starts_with(s)).unwrap();
    assert_eq!(at("follow the source's rename"), 0, "{steps:#?}");
    assert!(at("create the folder") < at("copy 1 message"), "{steps:#?}");
    assert!(
        at("copy 1 message (") < at("save the checkpoint of 'INBOX'"),
        "{steps:#?}"
    );
    let human = cutover.ok(&["batch", "plan", "CutoverBatch"]);
    assert!(
        human.starts_with(&format!("{USER}: {} steps\n    1. follow", steps.len())),
        "{human}"
    );

    // The pass takes exactly those steps, in that order.
    let (run, log) = cutover.pass("info,cutover_sync=debug,sqlx=warn");
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    assert_eq!(applied_steps(&log, USER), steps, "{log}");
    assert_same_mailbox(&src, &dst, USER);
    assert_eq!(
        planned_steps(&cutover.json(&["batch", "plan", "CutoverBatch"]), USER),
        Vec::<String>::new(),
        "a pass left work behind"
    );
}

#[test]
fn the_plan_names_a_user_it_does_not_know_and_a_server_it_cannot_reach() {
    let (src, dst) = pair(&[USER], '/');
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", USER);
    cutover.start_batch(&[(USER, "", "")], &[]);
    let err = cutover.fails(&[
        "batch",
        "plan",
        "CutoverBatch",
        "--user",
        "nobody@contoso.test",
    ]);
    assert!(
        err.contains("'nobody@contoso.test' is not a user of batch 'CutoverBatch'"),
        "{err}"
    );
    drop(src);
    let plan = cutover.json(&["batch", "plan", "CutoverBatch"]);
    let error = plan[0]["Error"].as_str().unwrap_or_default();
    assert!(
        error.contains("cannot connect to the source server"),
        "{plan:#}"
    );
    drop(dst);
}

/// The source renames a folder and then moves its subfolder elsewhere (Projects -> Work,
/// then Work/a/b -> Moved): the target follows both, the second from where the first put
/// it, and the pass does what the plan said.
#[test]
fn a_subfolder_renamed_away_from_its_renamed_parent_is_followed() {
    let (src, dst) = pair(&[USER], '/');
    fill_realistic_mailbox(&src, USER, 30, 12, false);
    src.index(USER);
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", USER);
    cutover.start_batch(&[(USER, "", "")], &[]);
    cutover.ok(&["run", "--once"]);
    src.rename_folder(USER, "Projects", "Work");
    src.rename_folder(USER, "Work/a/b", "Moved");

    let steps = planned_steps(&cutover.json(&["batch", "plan", "CutoverBatch"]), USER);
    let renames: Vec<&String> = steps
        .iter()
        .filter(|s| s.starts_with("follow the source's rename"))
        .collect();
    assert_eq!(renames.len(), 2, "{steps:#?}");
    assert!(
        renames[1].contains("rename 'Work/a/b' to 'Moved' on the target"),
        "{steps:#?}"
    );
    let (run, log) = cutover.pass("info,cutover_sync=debug,sqlx=warn");
    assert_eq!(field(&run[0], "Status"), "Synced", "{run:#}\n{log}");
    assert_eq!(field(&run[0], "ItemsCopied"), 0, "{run:#}\n{log}");
    assert_eq!(applied_steps(&log, USER), steps, "{log}");
    assert_same_mailbox(&src, &dst, USER);
    let target = dst.mailbox(USER);
    assert!(
        !target.folders.contains_key("Projects"),
        "{:?}",
        target.selectable
    );
}
