//! `cutover job get`: the scheduler's jobs, and which worker runs what.

use cutover_service::views::JobView;

use crate::Ctx;
use crate::args::JobCommand;
use crate::output::Record;

pub async fn run(ctx: &Ctx, command: JobCommand) -> anyhow::Result<()> {
    match command {
        JobCommand::Get { batch } => {
            if let Some(b) = &batch
                && ctx.store.batch(b).await?.is_none()
            {
                anyhow::bail!("--batch: batch '{b}' was not found");
            }
            let now = chrono::Utc::now();
            let records: Vec<Record> = ctx
                .store
                .jobs(batch.as_deref())
                .await?
                .iter()
                .map(|j| Record::from_view(&JobView::at(j, now)))
                .collect();
            ctx.print(&records, false)
        }
    }
}
