//! `cutover target set|get`.

use anyhow::Context;
use chrono::Utc;
use cutover_model::Target;

use super::verify;
use crate::args::TargetCommand;
use crate::{Ctx, output, views};

pub async fn run(ctx: &Ctx, command: TargetCommand) -> anyhow::Result<()> {
    match command {
        TargetCommand::Set(set) => {
            let args = &set.server;
            let connection = verify::connection(args)?;
            let pw = verify::secret(args, "Target admin password: ")?;
            if !args.skip_verification {
                let summary = verify::check(&connection, &pw, args.test_mailbox.as_deref())
                    .await
                    .context("the target server did not pass the test (use --skip-verification to store it anyway)")?;
                output::note(&format!("target verified: {summary}"));
            }
            let target = Target {
                connection,
                updated_at: Utc::now(),
                // A new target is probed again unless the admin says.
                folds_case: match set.folder_case.as_str() {
                    "sensitive" => Some(false),
                    "insensitive" => Some(true),
                    _ => None,
                },
            };
            ctx.store.set_target(&target, &pw).await?;
            ctx.print(&[views::target(&target)], true)
        }
        TargetCommand::Get => {
            let target =
                ctx.store.target().await?.context(
                    "no target is set; run `cutover target set --server ... --admin ...`",
                )?;
            ctx.print(&[views::target(&target)], true)
        }
    }
}
