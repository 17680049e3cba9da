//! Named points in a pass where tests stop the process, to prove that a crash anywhere
//! loses and duplicates nothing. Compiled into debug builds only.
//!
//! `CUTOVER_TEST_PAUSE_AT=after-append:3` makes the 3rd arrival at that point create the
//! file named by `CUTOVER_TEST_PAUSE_FILE` and then freeze, so that the test can kill
//! the process with SIGKILL exactly there.

/// Where a pass can be stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PausePoint {
    /// Intents of a chunk are recorded; its APPEND is not sent yet.
    AfterIntents,
    /// The target accepted the chunk; the copies are not recorded yet.
    AfterAppend,
    /// The chunk's copies are recorded.
    AfterRecord,
    /// A DAV item's intent is recorded; its PUT is not sent yet (crates/dav).
    DavAfterIntent,
    /// The target took a DAV item's PUT; its record is not written yet.
    DavAfterPut,
    /// A user's entry is on the target's directory and its initial password kept
    /// sealed; the password is not set on the target yet (crates/service provisioning).
    ProvisionAfterWrite,
}

impl PausePoint {
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    fn name(self) -> &'static str {
        match self {
            PausePoint::AfterIntents => "after-intents",
            PausePoint::AfterAppend => "after-append",
            PausePoint::AfterRecord => "after-record",
            PausePoint::DavAfterIntent => "dav-after-intent",
            PausePoint::DavAfterPut => "dav-after-put",
            PausePoint::ProvisionAfterWrite => "provision-after-write",
        }
    }
}

/// Called at each point; does nothing unless a test asked for a pause there.
#[cfg(debug_assertions)]
pub fn reached(point: PausePoint) {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    static COUNT: AtomicU32 = AtomicU32::new(0);
    static ONCE: Mutex<()> = Mutex::new(());

    let Ok(spec) = std::env::var("CUTOVER_TEST_PAUSE_AT") else {
        return;
    };
    let Some((name, nth)) = spec.split_once(':') else {
        return;
    };
    if name != point.name() {
        return;
    }
    let nth: u32 = nth.parse().unwrap_or(1);
    if COUNT.fetch_add(1, Ordering::SeqCst) + 1 != nth {
        return;
    }
    let _guard = ONCE.lock();
    if let Ok(file) = std::env::var("CUTOVER_TEST_PAUSE_FILE") {
        let _ = std::fs::write(file, point.name());
    }
    tracing::warn!(
        point = point.name(),
        "paused for a test; waiting to be killed"
    );
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn reached(_point: PausePoint) {}

/// Slows each chunk down by `CUTOVER_TEST_CHUNK_DELAY_MS`, so that a test can act while
/// a pass runs. Debug builds only.
pub async fn chunk_delay() {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("CUTOVER_TEST_CHUNK_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}
