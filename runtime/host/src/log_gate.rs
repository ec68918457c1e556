//! Which connector log lines are kept: a total per instance and a rate (token bucket whose
//! burst is one second's worth). Dropped lines are counted and reported in one warning per
//! episode, so a flood costs the run a handful of lines, never memory or time.

use std::time::Instant;

/// The two log limits of one instance and what they have let through.
#[derive(Debug)]
pub(crate) struct LogGate {
    max_lines: usize,
    per_sec: f64,
    /// lines kept so far (the total limit counts these)
    kept: usize,
    /// whether the total limit's warning was given
    total_reached: bool,
    tokens: f64,
    last: Instant,
    /// lines dropped by the rate since the last kept line
    rate_dropped: u64,
}

/// What to do with one line.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    Keep,
    Drop,
    /// drop it and warn, once: the total is reached
    DropTotalReached(String),
}

impl LogGate {
    pub(crate) fn new(max_lines: usize, per_sec: u32, now: Instant) -> LogGate {
        let per_sec = f64::from(per_sec.max(1));
        LogGate {
            max_lines,
            per_sec,
            kept: 0,
            total_reached: false,
            tokens: per_sec,
            last: now,
            rate_dropped: 0,
        }
    }

    /// Decide on one line logged at `now`.
    pub(crate) fn admit(&mut self, now: Instant) -> Verdict {
        if self.kept >= self.max_lines {
            if self.total_reached {
                return Verdict::Drop;
            }
            self.total_reached = true;
            return Verdict::DropTotalReached(format!(
                "the connector reached its log limit of {} lines (limits.max_log_lines); further lines are dropped",
                self.max_lines
            ));
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.per_sec);
        if self.tokens < 1.0 {
            self.rate_dropped += 1;
            return Verdict::Drop;
        }
        self.tokens -= 1.0;
        self.kept += 1;
        Verdict::Keep
    }

    /// The warning for lines the rate dropped since the last one given, if any.
    pub(crate) fn rate_warning(&mut self) -> Option<String> {
        if self.rate_dropped == 0 {
            return None;
        }
        let n = std::mem::take(&mut self.rate_dropped);
        Some(format!(
            "{n} log lines dropped: the connector exceeded its log rate of {} lines per second (limits.max_log_lines_per_sec)",
            self.per_sec
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_rate_allows_a_burst_then_refills_with_time() {
        let t0 = Instant::now();
        let mut g = LogGate::new(1_000_000, 10, t0);
        let kept = (0..25).filter(|_| g.admit(t0) == Verdict::Keep).count();
        assert_eq!(kept, 10);
        assert_eq!(
            g.rate_warning().as_deref(),
            Some(
                "15 log lines dropped: the connector exceeded its log rate of 10 lines per second (limits.max_log_lines_per_sec)"
            )
        );
        assert_eq!(g.rate_warning(), None);
        // half a second refills five lines, not more
        let t1 = t0 + Duration::from_millis(500);
        let kept = (0..25).filter(|_| g.admit(t1) == Verdict::Keep).count();
        assert_eq!(kept, 5);
        // a long pause refills only one second's worth
        let t2 = t1 + Duration::from_secs(60);
        let kept = (0..25).filter(|_| g.admit(t2) == Verdict::Keep).count();
        assert_eq!(kept, 10);
    }

    #[test]
    fn the_total_warns_once_then_drops_silently() {
        let t0 = Instant::now();
        let mut g = LogGate::new(3, 1000, t0);
        let verdicts: Vec<Verdict> = (0..6).map(|_| g.admit(t0)).collect();
        assert_eq!(
            &verdicts[..3],
            &[Verdict::Keep, Verdict::Keep, Verdict::Keep]
        );
        assert!(
            matches!(&verdicts[3], Verdict::DropTotalReached(m) if m.contains("limits.max_log_lines"))
        );
        assert_eq!(&verdicts[4..], &[Verdict::Drop, Verdict::Drop]);
        // the total is not the rate: no rate warning
        assert_eq!(g.rate_warning(), None);
    }
}
