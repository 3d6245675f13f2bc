//! RTT statistics exactly as Submariner's pinger keeps them.
//!
//! Values are nanoseconds in `u64`. The mean and the standard deviation are
//! running (Welford) figures over integer arithmetic:
//! `sqrDiff += (rtt - oldMean) * (rtt - newMean)`, `stdDev = sqrt(sqrDiff / n)`,
//! with the mean truncated to whole nanoseconds at each step. Over a window of
//! [`WINDOW`] samples; when it is full the window restarts from its last two
//! samples (min and max are kept). Submariner computes the products in
//! wrapping 64-bit arithmetic (a signed product stored in an unsigned sum);
//! this does the same, so the figures agree with a libreswan gateway's
//! to the nanosecond.

/// Samples kept before the running figures restart.
pub const WINDOW: usize = 1000;

/// Running RTT statistics (nanoseconds).
#[derive(Debug, Clone)]
pub struct RttStats {
    previous: Vec<u64>,
    sum: u64,
    mean: u64,
    std_dev: u64,
    last: u64,
    min: u64,
    max: u64,
    sqr_diff: u64,
    index: usize,
    window: usize,
}

impl Default for RttStats {
    fn default() -> Self {
        Self::with_window(WINDOW)
    }
}

/// `(a - b)` as Go computes `int64(a - b)` for two `uint64`s.
fn signed_diff(a: u64, b: u64) -> i64 {
    a.wrapping_sub(b) as i64
}

impl RttStats {
    /// Statistics over a window of `window` samples (at least 2).
    pub fn with_window(window: usize) -> Self {
        let window = window.max(2);
        RttStats {
            previous: vec![0; window],
            sum: 0,
            mean: 0,
            std_dev: 0,
            last: 0,
            min: 0,
            max: 0,
            sqr_diff: 0,
            index: 0,
            window,
        }
    }

    /// Add one RTT sample.
    pub fn update(&mut self, rtt: u64) {
        self.last = rtt;
        if self.index == self.window {
            // Restart from the last two samples: the integer running figures
            // accumulate truncation error as the count grows.
            self.index = 2;
            self.previous[0] = self.previous[self.window - 2];
            self.previous[1] = self.previous[self.window - 1];
            self.sum = self.previous[0].wrapping_add(self.previous[1]);
            self.mean = self.sum / 2;
            let d0 = signed_diff(self.previous[0], self.mean);
            let d1 = signed_diff(self.previous[1], self.mean);
            self.sqr_diff = d0.wrapping_mul(d0).wrapping_add(d1.wrapping_mul(d1)) as u64;
        }
        if self.index == 0 {
            self.sum = rtt;
            self.sqr_diff = 0;
            self.min = rtt;
            self.max = rtt;
            self.mean = rtt;
            self.previous[0] = rtt;
            self.std_dev = 0;
        } else {
            self.previous[self.index] = rtt;
            if self.min == 0 || self.min > rtt {
                self.min = rtt;
            }
            if self.max < rtt {
                self.max = rtt;
            }
            self.sum = self.sum.wrapping_add(rtt);
            let old_mean = self.mean;
            let n = self.index as u64 + 1;
            self.mean = self.sum / n;
            let product = signed_diff(rtt, old_mean).wrapping_mul(signed_diff(rtt, self.mean));
            self.sqr_diff = self.sqr_diff.wrapping_add(product as u64);
            self.std_dev = ((self.sqr_diff / n) as f64).sqrt() as u64;
        }
        self.index += 1;
    }

    pub fn last(&self) -> u64 {
        self.last
    }
    pub fn min(&self) -> u64 {
        self.min
    }
    pub fn max(&self) -> u64 {
        self.max
    }
    /// The running mean (Submariner's `average`).
    pub fn mean(&self) -> u64 {
        self.mean
    }
    pub fn std_dev(&self) -> u64 {
        self.std_dev
    }
    /// Samples in the current window.
    pub fn samples(&self) -> usize {
        self.index
    }
}

#[cfg(test)]
mod tests {
    use super::RttStats;

    #[test]
    fn first_sample_sets_everything() {
        let mut s = RttStats::default();
        s.update(5000);
        assert_eq!(
            (s.last(), s.min(), s.max(), s.mean(), s.std_dev()),
            (5000, 5000, 5000, 5000, 0)
        );
    }

    /// Hand-computed: samples 10, 20, 30, 40.
    /// n=2: mean 15, sqrDiff = (20-10)*(20-15) = 50, sd = sqrt(50/2) = 5.
    /// n=3: sum 60, mean 20, sqrDiff = 50 + (30-15)*(30-20) = 200, sd = sqrt(66) -> 8.
    /// n=4: sum 100, mean 25, sqrDiff = 200 + (40-20)*(40-25) = 500, sd = sqrt(125) -> 11.
    #[test]
    fn welford_matches_hand_computation() {
        let mut s = RttStats::default();
        let mut seen = vec![];
        for rtt in [10, 20, 30, 40] {
            s.update(rtt);
            seen.push((s.mean(), s.std_dev()));
        }
        assert_eq!(seen, vec![(10, 0), (15, 5), (20, 8), (25, 11)]);
        assert_eq!((s.min(), s.max(), s.last()), (10, 40, 40));
    }

    /// A sample below the mean makes a negative product, which Submariner
    /// adds in wrapping arithmetic: 30 then 10 -> mean 20, sqrDiff =
    /// (10-30)*(10-20) = 200, sd = sqrt(100) = 10.
    #[test]
    fn decreasing_samples_use_signed_differences() {
        let mut s = RttStats::default();
        s.update(30);
        s.update(10);
        assert_eq!((s.mean(), s.std_dev(), s.min(), s.max()), (20, 10, 10, 30));
        // Then 20: sum 60, mean 20, sqrDiff += (20-20)*(20-20) = 0 -> sd sqrt(200/3)=8.
        s.update(20);
        assert_eq!((s.mean(), s.std_dev()), (20, 8));
    }

    /// With a window of 4, the fifth sample restarts from the last two:
    /// 10,20,30,40 then 100 -> restart with [30,40]: sum 70, mean 35,
    /// sqrDiff = 25+25 = 50; then add 100 (index 2, n=3): sum 170, mean 56,
    /// sqrDiff = 50 + (100-35)*(100-56) = 50 + 2860 = 2910, sd = sqrt(970) -> 31.
    /// Min and max survive the restart.
    #[test]
    fn window_restarts_from_last_two_samples() {
        let mut s = RttStats::with_window(4);
        for rtt in [10, 20, 30, 40, 100] {
            s.update(rtt);
        }
        assert_eq!(s.samples(), 3);
        assert_eq!(
            (s.mean(), s.std_dev(), s.min(), s.max(), s.last()),
            (56, 31, 10, 100, 100)
        );
    }

    #[test]
    fn stable_rtt_has_zero_deviation_over_many_windows() {
        let mut s = RttStats::default();
        for _ in 0..2500 {
            s.update(388_079);
        }
        assert_eq!((s.mean(), s.std_dev()), (388_079, 0));
    }
}
