//! Library calendars: closed weekdays and holidays, due dates that never fall on a closed day,
//! and answer deadlines counted in opening days.

use serde::{Deserialize, Serialize};
use time::{Date, Duration, Weekday};

/// When a library is closed: weekly closed days plus single dates (holidays, moves).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedDays {
    #[serde(default)]
    pub weekdays: Vec<WeekdayName>,
    #[serde(default)]
    pub dates: Vec<Date>,
}

/// A weekday as written in configuration ("sunday").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeekdayName {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl From<WeekdayName> for Weekday {
    fn from(w: WeekdayName) -> Self {
        match w {
            WeekdayName::Monday => Weekday::Monday,
            WeekdayName::Tuesday => Weekday::Tuesday,
            WeekdayName::Wednesday => Weekday::Wednesday,
            WeekdayName::Thursday => Weekday::Thursday,
            WeekdayName::Friday => Weekday::Friday,
            WeekdayName::Saturday => Weekday::Saturday,
            WeekdayName::Sunday => Weekday::Sunday,
        }
    }
}

/// Fewer open days than this in a row means the calendar is closed for good; stop looking.
const MAX_SEARCH_DAYS: i64 = 366;

impl ClosedDays {
    pub fn is_closed(&self, date: Date) -> bool {
        self.weekdays
            .iter()
            .any(|w| Weekday::from(*w) == date.weekday())
            || self.dates.contains(&date)
    }

    /// The first open day on or after `date`. A calendar closed every day gives `date` back
    /// rather than looping: a due date must exist.
    pub fn next_open(&self, date: Date) -> Date {
        let mut d = date;
        for _ in 0..MAX_SEARCH_DAYS {
            if !self.is_closed(d) {
                return d;
            }
            match d.next_day() {
                Some(n) => d = n,
                None => return date,
            }
        }
        date
    }

    /// Due date of a loan shipped on `shipped`: the loan period in calendar days, moved forward
    /// to the lender's next open day so the item can be returned on it.
    pub fn due_date(&self, shipped: Date, loan_days: u32) -> Date {
        let raw = shipped
            .checked_add(Duration::days(i64::from(loan_days)))
            .unwrap_or(shipped);
        self.next_open(raw)
    }

    /// `days` opening days after `from` (a lender's time to answer does not run while closed).
    pub fn add_open_days(&self, from: Date, days: u32) -> Date {
        let mut d = from;
        let mut left = days;
        let mut steps = 0;
        while left > 0 && steps < MAX_SEARCH_DAYS * 4 {
            steps += 1;
            match d.next_day() {
                Some(n) => d = n,
                None => break,
            }
            if !self.is_closed(d) {
                left -= 1;
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn weekends() -> ClosedDays {
        ClosedDays {
            weekdays: vec![WeekdayName::Saturday, WeekdayName::Sunday],
            dates: vec![],
        }
    }

    #[test]
    fn due_date_on_a_sunday_moves_to_monday() {
        // 2026-11-01 is a Sunday; 2026-10-04 + 28 days = 2026-11-01.
        assert_eq!(
            weekends().due_date(date!(2026 - 10 - 04), 28),
            date!(2026 - 11 - 02)
        );
    }

    #[test]
    fn due_date_skips_a_holiday_after_the_weekend() {
        let mut cal = weekends();
        cal.dates.push(date!(2026 - 11 - 02));
        assert_eq!(
            cal.due_date(date!(2026 - 10 - 04), 28),
            date!(2026 - 11 - 03)
        );
    }

    #[test]
    fn a_calendar_closed_every_day_still_gives_a_date() {
        let all = ClosedDays {
            weekdays: vec![
                WeekdayName::Monday,
                WeekdayName::Tuesday,
                WeekdayName::Wednesday,
                WeekdayName::Thursday,
                WeekdayName::Friday,
                WeekdayName::Saturday,
                WeekdayName::Sunday,
            ],
            dates: vec![],
        };
        assert_eq!(
            all.due_date(date!(2026 - 01 - 01), 14),
            date!(2026 - 01 - 15)
        );
        assert_eq!(all.add_open_days(date!(2026 - 01 - 01), 2).year(), 2030);
    }

    #[test]
    fn open_days_do_not_count_the_weekend() {
        // Friday + 2 open days = Tuesday.
        assert_eq!(
            weekends().add_open_days(date!(2026 - 11 - 20), 2),
            date!(2026 - 11 - 24)
        );
    }
}
