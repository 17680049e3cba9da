//! `cutover report proof|verify`: the signed completeness proof of a batch, and its check.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use cutover_service::control::ControlError;
use cutover_service::proof;

use crate::Ctx;
use crate::args::ReportCommand;
use crate::output::terminal_safe;

pub async fn run(ctx: &Ctx, command: ReportCommand, state_path: &Path) -> anyhow::Result<()> {
    let key_file = proof::default_key_file(state_path);
    match command {
        ReportCommand::Proof { name, user, out } => {
            write_proof(ctx, &name, user.as_deref(), out, &key_file).await
        }
        ReportCommand::Verify { file, public_key } => {
            verify(&file, public_key.as_deref(), &key_file)
        }
    }
}

async fn write_proof(
    ctx: &Ctx,
    name: &str,
    user: Option<&str>,
    out: Option<PathBuf>,
    key_file: &Path,
) -> anyhow::Result<()> {
    let (document, t, errors) = proof::make(ctx.store.as_ref(), name, user, key_file)
        .await
        .map_err(|e| match e {
            ControlError::NotFound { what: "batch", .. } => {
                anyhow!("batch '{name}' was not found; `cutover batch get` lists them")
            }
            ControlError::NotFound { .. } => anyhow!(
                "'{}' is not a user of batch '{name}'; `cutover user get --batch {name}` lists them",
                user.unwrap_or_default()
            ),
            e => e.into(),
        })?;
    let path = out.unwrap_or_else(|| PathBuf::from(format!("completeness-proof-{name}.json")));
    std::fs::write(&path, proof::to_text(&document))
        .with_context(|| format!("cannot write the proof to {}", path.display()))?;
    eprintln!(
        "completeness proof of batch '{name}': {} users, {} folders, {} messages on both servers, \
         {} differences ({} unexplained); written to {}, signed with key {}",
        t.users,
        t.folders,
        t.matched,
        t.differences,
        t.missing,
        path.display(),
        document["PublicKey"].as_str().unwrap_or_default()
    );
    if !errors.is_empty() {
        eprintln!("{}", terminal_safe(&errors));
    }
    if t.unreadable > 0 {
        bail!(
            "{} mailbox(es) could not be read (above); the proof lists them as errors",
            t.unreadable
        );
    }
    if t.missing > 0 {
        bail!(
            "{} message(s) are on the source and not on the target, and nothing explains it: \
             the differences marked \"Missing\" in {}; `cutover batch start {name}` copies what it can",
            t.missing,
            path.display()
        );
    }
    Ok(())
}

fn verify(file: &Path, public_key: Option<&str>, key_file: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let verified =
        proof::verify_text(&text).with_context(|| format!("{} does not verify", file.display()))?;
    // A good signature says nothing unless the key is the one expected.
    let signer = match public_key {
        Some(expected) if expected.trim().eq_ignore_ascii_case(&verified.public_key) => {
            "the key given".to_string()
        }
        Some(expected) => bail!(
            "{} is signed by key {}, not by {}",
            file.display(),
            verified.public_key,
            expected.trim()
        ),
        None => match proof::load_key(key_file)? {
            Some(key) if proof::public_key_hex(&key.verifying_key()) == verified.public_key => {
                "this installation's key".to_string()
            }
            _ => bail!(
                "{}: the content is as signed, but by key {}, which is not this installation's; \
                 if its owner confirms the key, check again with --public-key {}",
                file.display(),
                verified.public_key,
                verified.public_key
            ),
        },
    };
    println!(
        "{}: verified ({}), signed by {signer}",
        file.display(),
        verified.digest
    );
    Ok(())
}
