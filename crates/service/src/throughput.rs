//! The batch's throughput over time, from the store's ten-second buckets: the points of
//! the dashboard's chart and the recent rate, as pure functions of the buckets and the
//! time asked about.

use chrono::{DateTime, Duration, Utc};
use cutover_store::{THROUGHPUT_BUCKET_SECONDS, ThroughputBucket};
use serde::Serialize;
use utoipa::ToSchema;

/// At most this many points in a chart, whatever the time span.
pub const MAX_POINTS: i64 = 60;

/// One stretch of the chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ThroughputPoint {
    /// The stretch's start (RFC 3339).
    pub at: String,
    pub messages: u64,
    pub bytes: u64,
    /// Bytes per second over the stretch.
    pub bytes_per_second: u64,
}

/// The batch's throughput from `From` to `To`, in stretches of `StepSeconds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ThroughputView {
    pub from: String,
    pub to: String,
    pub step_seconds: i64,
    pub points: Vec<ThroughputPoint>,
    /// Bytes per second over the last minute.
    pub recent_bytes_per_second: u64,
}

/// The width of a chart's stretches for a span: whole buckets, at most [`MAX_POINTS`].
pub fn step_for(span: Duration) -> i64 {
    let seconds = span.num_seconds().max(1);
    let per_point = (seconds + MAX_POINTS - 1) / MAX_POINTS;
    let buckets = (per_point + THROUGHPUT_BUCKET_SECONDS - 1) / THROUGHPUT_BUCKET_SECONDS;
    buckets.max(1) * THROUGHPUT_BUCKET_SECONDS
}

fn floor(t: DateTime<Utc>, step: i64) -> i64 {
    t.timestamp().div_euclid(step) * step
}

/// The chart from `from` to `now`: every stretch, empty ones included, each summing the
/// buckets that start in it.
pub fn series(
    buckets: &[ThroughputBucket],
    from: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ThroughputView {
    let step = step_for(now - from);
    let first = floor(from, step);
    let last = floor(now, step);
    let mut points: Vec<ThroughputPoint> = (0..=(last - first) / step)
        .map(|i| ThroughputPoint {
            at: time_text(first + i * step),
            messages: 0,
            bytes: 0,
            bytes_per_second: 0,
        })
        .collect();
    for b in buckets {
        let t = b.at.timestamp();
        if t < first || t > last + step - 1 {
            continue;
        }
        let p = &mut points[((t - first) / step) as usize];
        p.messages += b.messages;
        p.bytes += b.bytes;
    }
    for p in &mut points {
        p.bytes_per_second = p.bytes / step as u64;
    }
    ThroughputView {
        from: time_text(first),
        to: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        step_seconds: step,
        points,
        recent_bytes_per_second: recent_rate(buckets, now),
    }
}

/// Bytes per second over the minute before `now` (whole buckets: the one `now` is in
/// counts for the part of it that has passed).
pub fn recent_rate(buckets: &[ThroughputBucket], now: DateTime<Utc>) -> u64 {
    let since = floor(now - Duration::seconds(60), THROUGHPUT_BUCKET_SECONDS);
    let bytes: u64 = buckets
        .iter()
        .filter(|b| b.at.timestamp() >= since && b.at <= now)
        .map(|b| b.bytes)
        .sum();
    let span = (now.timestamp() - since).max(1) as u64;
    bytes / span
}

fn time_text(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(unix: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(unix, 0).unwrap()
    }

    #[test]
    fn a_two_minute_span_has_a_point_every_ten_seconds() {
        let t0 = 1_800_000_000;
        let buckets = [
            ThroughputBucket {
                at: at(t0),
                messages: 2,
                bytes: 1000,
            },
            ThroughputBucket {
                at: at(t0 + 30),
                messages: 1,
                bytes: 500,
            },
        ];
        let v = series(&buckets, at(t0), at(t0 + 120));
        assert_eq!(v.step_seconds, 10);
        assert_eq!(v.points.len(), 13);
        assert_eq!(v.points[0].bytes_per_second, 100);
        assert_eq!(v.points[3].bytes, 500);
        assert_eq!(v.points[1].bytes, 0);
    }

    proptest! {
        #[test]
        fn a_chart_keeps_every_byte_of_its_span_in_few_points(
            start in 1_700_000_000i64..1_800_000_000, span in 0i64..10 * 86400,
            sizes in proptest::collection::vec((0i64..10 * 86400, 0u64..1_000_000_000), 0..40),
        ) {
            let from = at(start);
            let now = at(start + span);
            let buckets: Vec<ThroughputBucket> = {
                let mut seen = std::collections::BTreeMap::new();
                for (offset, bytes) in sizes {
                    let t = (start + offset.min(span)).div_euclid(10) * 10;
                    *seen.entry(t).or_insert(0) += bytes;
                }
                seen.into_iter().map(|(t, bytes)| ThroughputBucket { at: at(t), messages: 1, bytes }).collect()
            };
            let v = series(&buckets, from, now);
            prop_assert!(v.points.len() as i64 <= MAX_POINTS + 1, "{} points", v.points.len());
            prop_assert_eq!(v.step_seconds % THROUGHPUT_BUCKET_SECONDS, 0);
            let inside: u64 = buckets.iter().filter(|b| b.at.timestamp() >= floor(from, v.step_seconds)).map(|b| b.bytes).sum();
            let charted: u64 = v.points.iter().map(|p| p.bytes).sum();
            prop_assert_eq!(charted, inside);
        }
    }
}
