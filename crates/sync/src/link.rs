//! Whether COMPRESS=DEFLATE pays on the link to a server (`--compression auto`), learnt
//! from the passes themselves rather than guessed from the server's name.
//!
//! Compression trades the server's CPU for the link's bytes: mail deflates 1.3-3:1, so
//! it pays where the link is slower than the server compresses, and costs where it is
//! not (2.7 × on an 800 Mbit/s link, 1.5 × at 200 Mbit/s on the benchmark's 2 cores).
//! Neither speed is known before copying, so each mailbox copy of at least
//! [`SAMPLE_BYTES`] is a measurement: its bytes over its copy's time, kept per server
//! and per mode (plain or deflated) for the life of the process. [`decide`] turns them
//! into the choice for the next connections: plain until a plain copy was measured; plain
//! when that was fast ([`FAST`]); else deflated once, to measure it; then whichever moved
//! mail faster. A loopback server is never compressed (there is no link to save), unless
//! [`loopback_is_a_link`].
//!
//! Mailboxes copied at once each see a share of the link, so a copy's rate is counted
//! times the copies from the server that ran beside it on average ([`LinkMeter::begin`]
//! keeps that count): four mailboxes at 5 MB/s each measure a 20 MB/s link.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A copy smaller than this says more about round trips than about the link.
pub const SAMPLE_BYTES: u64 = 8 << 20;

/// A mailbox copied plain at this rate or faster (bytes per second, about 100 Mbit/s)
/// is not held back by its link enough for deflate to pay: a server compresses mail at
/// 10-40 MB/s per core, and the benchmark measured deflate slower at 25 MB/s.
pub const FAST: f64 = 12.0e6;

/// Deflated copies must be this much faster than plain ones to keep compressing: the
/// server's CPU is not free.
pub const MARGIN: f64 = 1.1;

/// Bytes moved and the time they took, in one mode.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub bytes: u64,
    pub seconds: f64,
}

impl Tally {
    /// Bytes per second; `None` before a measurement.
    pub fn rate(&self) -> Option<f64> {
        (self.bytes > 0 && self.seconds > 0.0).then(|| self.bytes as f64 / self.seconds)
    }
}

/// What the copies to one server measured so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Measured {
    pub plain: Tally,
    pub deflated: Tally,
}

/// Whether the next connection compresses. Pure.
pub fn decide(m: &Measured) -> bool {
    let Some(plain) = m.plain.rate() else {
        return false;
    };
    if plain >= FAST {
        return false;
    }
    match m.deflated.rate() {
        None => true,
        Some(deflated) => deflated > plain * MARGIN,
    }
}

/// Adds one mailbox copy to `m`, when it is large enough to say something. `sharing`:
/// how many copies from the server ran at once, on average, while this one did (itself
/// included); the link's rate is the copy's times that. Pure.
pub fn measure(m: &mut Measured, deflated: bool, bytes: u64, took: Duration, sharing: f64) {
    if bytes < SAMPLE_BYTES || took.is_zero() {
        return;
    }
    let tally = if deflated {
        &mut m.deflated
    } else {
        &mut m.plain
    };
    tally.bytes += (bytes as f64 * sharing.max(1.0)) as u64;
    tally.seconds += took.as_secs_f64();
}

/// Every server's meter, by host (in lower case) and port.
type Meters = HashMap<(String, u16), Arc<LinkMeter>>;

/// The measurements for one server, shared by every job of the process that copies
/// from it.
#[derive(Debug, Default)]
pub struct LinkMeter {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    measured: Measured,
    /// Copies from the server running now.
    copying: u32,
    /// The integral of `copying` over time (copy-seconds), up to `at`.
    area: f64,
    at: Option<Instant>,
}

impl State {
    fn advance(&mut self, now: Instant) {
        if let Some(at) = self.at {
            self.area += f64::from(self.copying) * now.saturating_duration_since(at).as_secs_f64();
        }
        self.at = Some(now);
    }
}

impl LinkMeter {
    /// The meter of the server at `host:port`, the same for every caller in the process.
    pub fn of(host: &str, port: u16) -> Arc<LinkMeter> {
        static METERS: OnceLock<Mutex<Meters>> = OnceLock::new();
        let mut meters = METERS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        meters
            .entry((host.to_ascii_lowercase(), port))
            .or_default()
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn wants_compression(&self) -> bool {
        decide(&self.snapshot())
    }

    /// A mailbox copy from the server starts; [`Copying::finish`] measures it.
    pub fn begin(&self) -> Copying<'_> {
        let now = Instant::now();
        let mut s = self.lock();
        s.advance(now);
        s.copying += 1;
        Copying {
            meter: self,
            started: now,
            area: s.area,
            done: false,
        }
    }

    pub fn snapshot(&self) -> Measured {
        self.lock().measured
    }
}

/// One mailbox copy being timed; dropped without [`Copying::finish`] (a failed or
/// stopped copy), it measures nothing.
#[derive(Debug)]
pub struct Copying<'a> {
    meter: &'a LinkMeter,
    started: Instant,
    area: f64,
    done: bool,
}

/// What one finished copy measured.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    pub took: Duration,
    /// Copies from the server at once, on average, this one included.
    pub sharing: f64,
    /// The choice for the next connections, when this copy changed it.
    pub changed: Option<bool>,
}

impl<'a> Copying<'a> {
    pub fn meter(&self) -> &'a LinkMeter {
        self.meter
    }

    pub fn finish(mut self, deflated: bool, bytes: u64) -> Finished {
        let now = Instant::now();
        let mut s = self.meter.lock();
        s.advance(now);
        s.copying = s.copying.saturating_sub(1);
        self.done = true;
        let took = now.saturating_duration_since(self.started);
        let sharing = if took.is_zero() {
            1.0
        } else {
            ((s.area - self.area) / took.as_secs_f64()).max(1.0)
        };
        let before = decide(&s.measured);
        measure(&mut s.measured, deflated, bytes, took, sharing);
        let after = decide(&s.measured);
        Finished {
            took,
            sharing,
            changed: (after != before).then_some(after),
        }
    }
}

impl Drop for Copying<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut s = self.meter.lock();
            s.advance(Instant::now());
            s.copying = s.copying.saturating_sub(1);
        }
    }
}

/// Whether `--compression auto` measures a loopback server as if it were far away:
/// `CUTOVER_LOOPBACK_IS_A_LINK=1`, for a link emulated on this machine by a proxy (the
/// tests' and `bench/wan.sh`'s). Otherwise loopback is never compressed.
pub fn loopback_is_a_link() -> bool {
    std::env::var_os("CUTOVER_LOOPBACK_IS_A_LINK").is_some_and(|v| v == "1")
}

/// How a side chooses COMPRESS.
#[derive(Debug, Clone)]
pub enum CompressChoice {
    /// The operator's `on` or `off`, or `auto` on loopback (never).
    Fixed(bool),
    /// `auto` on a server over a network: as its meter says.
    Measured(Arc<LinkMeter>),
}

impl CompressChoice {
    pub fn wanted(&self) -> bool {
        match self {
            CompressChoice::Fixed(on) => *on,
            CompressChoice::Measured(meter) => meter.wants_compression(),
        }
    }

    pub fn meter(&self) -> Option<&LinkMeter> {
        match self {
            CompressChoice::Fixed(_) => None,
            CompressChoice::Measured(meter) => Some(meter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tally(mb_per_s: f64) -> Tally {
        Tally {
            bytes: 100_000_000,
            seconds: 100.0 / mb_per_s,
        }
    }

    #[test]
    fn plain_first_then_deflate_tried_on_a_slow_link_and_kept_if_faster() {
        let mut m = Measured::default();
        assert!(!decide(&m), "nothing measured: plain");
        m.plain = tally(2.5);
        assert!(decide(&m), "a 20 Mbit/s link: try deflate");
        m.deflated = tally(4.0);
        assert!(decide(&m), "deflate moved mail faster: keep it");
        m.deflated = tally(2.6);
        assert!(!decide(&m), "not faster by the margin: back to plain");
    }

    #[test]
    fn a_fast_link_is_never_compressed() {
        let m = Measured {
            plain: tally(25.0),
            deflated: Tally::default(),
        };
        assert!(!decide(&m));
    }

    #[test]
    fn small_copies_are_not_measured() {
        let mut m = Measured::default();
        measure(
            &mut m,
            false,
            SAMPLE_BYTES - 1,
            Duration::from_secs(10),
            1.0,
        );
        assert_eq!(m, Measured::default());
        measure(&mut m, false, SAMPLE_BYTES, Duration::from_secs(4), 1.0);
        assert_eq!(m.plain.bytes, SAMPLE_BYTES);
        assert!(decide(&m), "8 MiB in 4 s is a slow link");
    }

    #[test]
    fn copies_at_once_each_see_a_share_of_the_link() {
        // four copies at once, each at 5 MB/s: a 20 MB/s link, too fast to compress
        let mut m = Measured::default();
        measure(&mut m, false, 50_000_000, Duration::from_secs(10), 4.0);
        assert_eq!(m.plain.rate(), Some(20.0e6));
        assert!(!decide(&m));
    }

    #[test]
    fn a_meter_counts_the_copies_at_once() {
        let meter = LinkMeter::default();
        let a = meter.begin();
        let b = meter.begin();
        std::thread::sleep(Duration::from_millis(40));
        let one = a.finish(false, SAMPLE_BYTES);
        assert!(one.sharing > 1.8 && one.sharing <= 2.0, "{one:?}");
        // 8 MiB in 40 ms on a link shared by two: fast, so still plain
        assert_eq!(one.changed, None, "{one:?}");
        assert!(meter.snapshot().plain.rate().unwrap() > 300e6);
        drop(b);
        assert_eq!(meter.lock().copying, 0);
        let c = meter.begin();
        let alone = c.finish(true, 0);
        assert!(alone.sharing < 1.01, "{alone:?}");
    }

    #[test]
    fn each_server_has_one_meter() {
        let a = LinkMeter::of("Mail.Example.test", 993);
        let b = LinkMeter::of("mail.example.test", 993);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &LinkMeter::of("mail.example.test", 143)));
    }

    proptest! {
        /// Compression is never chosen before a plain copy was measured slow, and with
        /// both measured it is chosen only when it was faster.
        #[test]
        fn compresses_only_where_measured_to_pay(
            plain in proptest::option::of(0.1f64..100.0),
            deflated in proptest::option::of(0.1f64..100.0),
        ) {
            let m = Measured {
                plain: plain.map(tally).unwrap_or_default(),
                deflated: deflated.map(tally).unwrap_or_default(),
            };
            let on = decide(&m);
            let p = m.plain.rate();
            let d = m.deflated.rate();
            if on {
                prop_assert!(p.is_some_and(|p| p < FAST));
                if let (Some(p), Some(d)) = (p, d) {
                    prop_assert!(d > p);
                }
            }
            if let (Some(p), Some(d)) = (p, d)
                && p < FAST
            {
                prop_assert_eq!(on, d > p * MARGIN);
            }
        }
    }
}
