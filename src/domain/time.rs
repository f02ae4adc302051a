//! Time: otto-rec computes in whole seconds (a `u32` Unix time) and keeps the milliseconds
//! of its input beside them, so files it writes keep the input's precision and the
//! validation split compares in milliseconds as the official script does.

/// Seconds in an hour.
pub const HOUR: u32 = 3_600;
/// Seconds in a day.
pub const DAY: u32 = 86_400;
/// Timestamps above this are milliseconds; below, seconds.
pub const MILLISECONDS_ABOVE: u64 = 100_000_000_000;

/// A Unix time split into whole seconds and the milliseconds within the second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    pub seconds: u32,
    pub millis: u16,
}

impl Timestamp {
    /// An OTTO timestamp (seconds, or milliseconds when above [`MILLISECONDS_ABOVE`]);
    /// `None` when it does not fit a `u32` of seconds.
    pub fn from_otto(ts: u64) -> Option<Self> {
        let (seconds, millis) = if ts > MILLISECONDS_ABOVE {
            (ts / 1000, (ts % 1000) as u16)
        } else {
            (ts, 0)
        };
        Some(Timestamp {
            seconds: u32::try_from(seconds).ok()?,
            millis,
        })
    }

    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> u64 {
        self.seconds as u64 * 1000 + self.millis as u64
    }
}

/// Day of the week of a Unix time, 0 = Monday (Unix day 0, 1970-01-01, was a Thursday).
pub fn weekday(seconds: u32) -> u32 {
    (seconds / DAY + 3) % 7
}

/// Hour of the day (UTC), 0..24.
pub fn hour_of_day(seconds: u32) -> u32 {
    (seconds % DAY) / HOUR
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otto_timestamps_keep_their_milliseconds() {
        let t = Timestamp::from_otto(1_661_200_010_123).unwrap();
        assert_eq!((t.seconds, t.millis), (1_661_200_010, 123));
        assert_eq!(t.as_millis(), 1_661_200_010_123);
        let s = Timestamp::from_otto(1_661_200_010).unwrap();
        assert_eq!((s.seconds, s.millis), (1_661_200_010, 0));
        assert!(Timestamp::from_otto(u64::MAX).is_none());
    }

    #[test]
    fn weekday_and_hour() {
        // 2022-08-21 12:00:00 UTC was a Sunday.
        assert_eq!(weekday(1_661_083_200), 6);
        assert_eq!(hour_of_day(1_661_083_200), 12);
    }
}
