//! Time as plain values. The server's one clock lives in the `app` crate; this crate only
//! compares instants that callers pass in.

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

/// A span of whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Duration(pub i64);

impl Duration {
    pub const fn seconds(s: i64) -> Self {
        Duration(s)
    }
    pub const fn minutes(m: i64) -> Self {
        Duration(m * 60)
    }
    pub const fn hours(h: i64) -> Self {
        Duration(h * 3600)
    }
    pub const fn as_seconds(self) -> i64 {
        self.0
    }
}

impl Timestamp {
    pub const fn as_seconds(self) -> i64 {
        self.0
    }
    #[must_use]
    pub const fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(d.0))
    }
    #[must_use]
    pub const fn minus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(d.0))
    }
    /// The UTC calendar date, `YYYY-MM-DD` (proleptic Gregorian; H. Hinnant's civil_from_days).
    pub fn date(self) -> String {
        let z = self.0.div_euclid(86_400) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// The start (00:00 UTC) of the calendar date `YYYY-MM-DD`, or `None` if it is not a real
    /// date (H. Hinnant's days_from_civil, checked by converting back).
    pub fn from_date(s: &str) -> Option<Timestamp> {
        let mut parts = s.trim().splitn(3, '-');
        let y: i64 = parts.next()?.parse().ok()?;
        let m: i64 = parts.next()?.parse().ok()?;
        let d: i64 = parts.next()?.parse().ok()?;
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return None;
        }
        let y2 = if m <= 2 { y - 1 } else { y };
        let era = y2.div_euclid(400);
        let yoe = y2 - era * 400;
        let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let t = Timestamp((era * 146_097 + doe - 719_468) * 86_400);
        (t.date() == format!("{y:04}-{m:02}-{d:02}")).then_some(t)
    }

    /// The UTC date and minute, `YYYY-MM-DD HH:MM`.
    pub fn date_and_minute(self) -> String {
        let secs = self.0.rem_euclid(86_400);
        format!(
            "{} {:02}:{:02}",
            self.date(),
            secs / 3600,
            (secs % 3600) / 60
        )
    }

    /// RFC 3339 in UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn rfc3339(self) -> String {
        let secs = self.0.rem_euclid(86_400);
        format!(
            "{}T{:02}:{:02}:{:02}Z",
            self.date(),
            secs / 3600,
            (secs % 3600) / 60,
            secs % 60
        )
    }

    /// How long from `earlier` to `self` (negative if `earlier` is later).
    pub const fn since(self, earlier: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_timestamps() {
        assert_eq!(Timestamp(0).date(), "1970-01-01");
        assert_eq!(Timestamp(951_782_400).date(), "2000-02-29");
        assert_eq!(Timestamp(1_800_000_000).date(), "2027-01-15");
        assert_eq!(Timestamp(-86_400).date(), "1969-12-31");
        assert_eq!(
            Timestamp(1_800_000_000).date_and_minute(),
            "2027-01-15 08:00"
        );
        assert_eq!(Timestamp(-60).date_and_minute(), "1969-12-31 23:59");
        assert_eq!(Timestamp(1_800_000_001).rfc3339(), "2027-01-15T08:00:01Z");
        for t in [0, 951_782_400, 1_800_000_000 - 28_800, -86_400] {
            assert_eq!(
                Timestamp::from_date(&Timestamp(t).date()),
                Some(Timestamp(t))
            );
        }
        assert_eq!(Timestamp::from_date("2027-02-29"), None);
        assert_eq!(Timestamp::from_date("2027-13-01"), None);
        assert_eq!(Timestamp::from_date("soon"), None);
    }
}
