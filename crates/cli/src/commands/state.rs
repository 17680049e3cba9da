//! `cutover state dump|check`: the state database as text, and its invariants.

use std::io::Write;

use anyhow::Context;

use crate::Ctx;
use crate::args::StateCommand;
use crate::output::terminal_safe;

pub async fn run(ctx: &Ctx, command: StateCommand) -> anyhow::Result<()> {
    match command {
        StateCommand::Dump => {
            let dump = ctx.store.dump_state().await?;
            // Text from servers is escaped in the dump already; this is the belt.
            std::io::stdout()
                .write_all(terminal_safe(&dump).as_bytes())
                .context("cannot write the dump")
        }
        StateCommand::Check => {
            let violations = ctx.store.check_invariants().await?;
            if violations.is_empty() {
                println!("state is consistent");
                return Ok(());
            }
            let list: Vec<String> = violations.iter().map(|v| format!("  {v}")).collect();
            let n = violations.len();
            anyhow::bail!(
                "the state breaks its invariants ({n} violation{}):\n{}",
                if n == 1 { "" } else { "s" },
                list.join("\n")
            )
        }
    }
}
