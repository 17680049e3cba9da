//! The completeness proof (`cutover report proof|verify`): after a migration into a target
//! that refuses one large message, the signed document accounts for every message on
//! both servers, lists the refused one with its reason and what arrived on the source
//! since, and `report verify` accepts it untouched and rejects it with one byte changed.

use serde_json::Value;

use crate::support::{
    Cutover, fill_realistic_mailbox, pair_refusing_large, request, simple_message,
};

const USER: &str = "alice@contoso.test";

fn large_message() -> Vec<u8> {
    let mut m = b"From: <carol@partner.example>\r\nSubject: the annual report\r\n\r\n".to_vec();
    while m.len() < 2 * 1024 * 1024 {
        m.extend_from_slice(b"0123456789 the quick brown fox jumps over the lazy dog\r\n");
    }
    m
}

/// Every difference of the proof: (source folder, side, why).
fn differences(proof: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for mailbox in proof["Content"]["Mailboxes"].as_array().unwrap() {
        for folder in mailbox["Folders"].as_array().unwrap() {
            for d in folder["Differences"].as_array().unwrap() {
                out.push((
                    folder["SourceFolder"].as_str().unwrap().to_string(),
                    d["Side"].as_str().unwrap().to_string(),
                    d["Why"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_proof_accounts_for_every_message_and_a_changed_byte_fails_it() {
    let (src, dst) = pair_refusing_large(&[USER]);
    fill_realistic_mailbox(&src, USER, 30, 61, false);
    src.write_message(USER, "INBOX", &large_message(), &[], 1_750_000_000);
    src.index(USER);
    let cutover = Cutover::new();
    cutover.connect(&src, &dst, "authzid", USER);
    cutover.start_batch(&[(USER, "", "")], &["--large-item-limit", "5"]);
    cutover.ok(&["run", "--once"]);
    // Mail that arrives on the source after the pass, and on the target after the switch.
    src.write_message(
        USER,
        "INBOX",
        &simple_message(USER, "late"),
        &[],
        1_790_000_000,
    );
    src.index(USER);
    dst.write_message(
        USER,
        "INBOX",
        &simple_message(USER, "direct"),
        &[],
        1_790_000_100,
    );
    dst.index(USER);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proof.json");
    let file_arg = file.to_str().unwrap();
    let out = cutover.run(&["report", "proof", "CutoverBatch", "--out", file_arg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("(0 unexplained)"), "{stderr}");
    let proof: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let content = &proof["Content"];
    assert_eq!(content["Unexplained"], 0, "{content:#}");
    assert_eq!(content["MessagesOnBoth"], 30, "{content:#}");
    assert_eq!(
        differences(&proof),
        [
            (
                "INBOX".to_string(),
                "Source".to_string(),
                "ArrivedSinceLastPass".to_string()
            ),
            ("INBOX".into(), "Source".into(), "Skipped".into()),
            ("INBOX".into(), "Target".into(), "NotFromSource".into()),
        ],
        "{content:#}"
    );
    let skipped = content["Mailboxes"][0]["Folders"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["Differences"].as_array().unwrap().clone())
        .find(|d| d["Why"] == "Skipped")
        .unwrap();
    assert!(
        skipped["Reason"]
            .as_str()
            .unwrap()
            .contains("the target refused it"),
        "{skipped:#}"
    );
    // The source and target counts of each folder are the servers' own.
    for folder in content["Mailboxes"][0]["Folders"].as_array().unwrap() {
        let name = folder["SourceFolder"].as_str().unwrap();
        assert_eq!(
            folder["SourceMessages"].as_u64().unwrap() as usize,
            src.mailbox(USER).folders[name].len(),
            "{name}"
        );
        assert_eq!(
            folder["TargetMessages"].as_u64().unwrap() as usize,
            dst.mailbox(USER).folders[folder["TargetFolder"].as_str().unwrap()].len(),
            "{name}"
        );
    }

    // Untouched, it verifies, signed by this installation.
    let verified = cutover.ok(&["report", "verify", file_arg]);
    assert!(verified.contains("verified (sha256:"), "{verified}");
    assert!(verified.contains("this installation's key"), "{verified}");
    // One byte changed in the content: refused.
    let text = std::fs::read_to_string(&file).unwrap();
    let changed = text.replacen("\"MessagesOnBoth\": 30", "\"MessagesOnBoth\": 31", 1);
    assert_ne!(changed, text);
    std::fs::write(&file, changed).unwrap();
    let err = cutover.fails(&["report", "verify", file_arg]);
    assert!(err.contains("does not verify"), "{err}");
    assert!(err.contains("changed after it was signed"), "{err}");
    // Another signer's key given: refused.
    std::fs::write(&file, &text).unwrap();
    let err = cutover.fails(&[
        "report",
        "verify",
        file_arg,
        "--public-key",
        &"ab".repeat(32),
    ]);
    assert!(err.contains("is signed by key"), "{err}");

    // The API makes the same proof, signed by the same installation.
    let serve = cutover.serve(&[], &[]);
    let path = "/api/v1/batches/CutoverBatch/proof?user=alice%40contoso.test";
    assert_eq!(request(serve.addr, "POST", path, None, None).status, 401);
    let reply = request(serve.addr, "POST", path, Some(&serve.token), None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let from_api = dir.path().join("from-api.json");
    std::fs::write(&from_api, &reply.body).unwrap();
    let verified = cutover.ok(&["report", "verify", from_api.to_str().unwrap()]);
    assert!(verified.contains("this installation's key"), "{verified}");
    let api: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(api["Content"]["Differences"], 3, "{api:#}");
    let missing = request(
        serve.addr,
        "POST",
        "/api/v1/batches/Nope/proof",
        Some(&serve.token),
        None,
    );
    assert_eq!(missing.status, 404, "{}", missing.body);
}
