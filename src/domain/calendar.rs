//! Calendar dates in a shop's time zone. Organizers think in days ("until the end of
//! October"); the database stores instants. This is the one place a day becomes an
//! instant, with the zone's daylight-saving rules.

use std::str::FromStr;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// An IANA time zone name that is not in the tz database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IANA time zone name such as \"Europe/Berlin\" or \"UTC\"")]
pub struct UnknownZone(pub String);

/// A shop's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShopZone(Tz);

/// The last instant of a day as stored: one millisecond before the next day begins, so
/// `23:59:59.999` on the wall clock, and a code stops applying a millisecond later.
const END_OF_DAY_MARGIN: Duration = Duration::milliseconds(1);

impl ShopZone {
    /// UTC, the zone of a shop that set none.
    pub const UTC: ShopZone = ShopZone(Tz::UTC);

    /// Parses an IANA name (`Europe/Berlin`), exactly as the tz database spells it.
    pub fn parse(name: &str) -> Result<Self, UnknownZone> {
        Tz::from_str(name.trim()).map(ShopZone).map_err(|_| UnknownZone(name.to_owned()))
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The first instant of `date` here. Where midnight does not exist (a daylight-saving
    /// jump at midnight), the day begins at the first wall-clock time that does.
    pub fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        let mut local = date.and_time(NaiveTime::MIN);
        // A gap lasts at most a few hours; step through it a quarter of an hour at a time.
        for _ in 0..(4 * 24) {
            if let Some(at) = self.0.from_local_datetime(&local).earliest() {
                return at.with_timezone(&Utc);
            }
            local += Duration::minutes(15);
        }
        // Unreachable with the tz database; UTC midnight rather than a panic.
        date.and_time(NaiveTime::MIN).and_utc()
    }

    /// The last instant of `date` here (23:59:59.999 on its wall clock): what
    /// "valid until 31 October" means.
    pub fn end_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        match date.succ_opt() {
            Some(next) => self.start_of_day(next) - END_OF_DAY_MARGIN,
            None => DateTime::<Utc>::MAX_UTC,
        }
    }

    /// `at` on this zone's clock, with its offset at that instant.
    pub fn local(&self, at: DateTime<Utc>) -> DateTime<FixedOffset> {
        at.with_timezone(&self.0).fixed_offset()
    }

    /// The calendar date of `at` here.
    pub fn date_of(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.0).date_naive()
    }
}

impl Default for ShopZone {
    fn default() -> Self {
        ShopZone::UTC
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_end_of_october_in_berlin_is_in_winter_time() {
        let berlin = ShopZone::parse("Europe/Berlin").unwrap();
        let end = berlin.end_of_day(date("2027-10-31"));
        assert_eq!(berlin.local(end).to_rfc3339(), "2027-10-31T23:59:59.999+01:00");
        assert_eq!(end.to_rfc3339(), "2027-10-31T22:59:59.999+00:00");
        // Summer time: two hours ahead of UTC.
        assert_eq!(berlin.local(berlin.end_of_day(date("2027-07-01"))).to_rfc3339(), "2027-07-01T23:59:59.999+02:00");
        assert_eq!(berlin.date_of(end), date("2027-10-31"));
        assert_eq!(berlin.date_of(end + Duration::milliseconds(1)), date("2027-11-01"));
    }

    #[test]
    fn a_day_that_begins_after_a_midnight_gap_starts_when_the_clock_does() {
        // Santiago (Chile) springs forward at midnight: 2024-09-08 00:00 does not exist.
        let santiago = ShopZone::parse("America/Santiago").unwrap();
        let start = santiago.start_of_day(date("2024-09-08"));
        assert_eq!(santiago.local(start).to_rfc3339(), "2024-09-08T01:00:00-03:00");
        // So the day before ends a millisecond earlier, at 23:59:59.999 of its own clock.
        assert_eq!(
            santiago.local(santiago.end_of_day(date("2024-09-07"))).to_rfc3339(),
            "2024-09-07T23:59:59.999-04:00"
        );
    }

    #[test]
    fn names_are_the_tz_databases() {
        assert_eq!(ShopZone::parse("UTC").unwrap().name(), "UTC");
        assert_eq!(ShopZone::parse(" Asia/Kolkata ").unwrap().name(), "Asia/Kolkata");
        assert!(ShopZone::parse("Mars/Olympus").is_err());
        assert!(ShopZone::parse("").is_err());
        assert!(ShopZone::parse("+01:00").is_err());
    }
}
