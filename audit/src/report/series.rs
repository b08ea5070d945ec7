//! Counts per UTC day of the block timestamp: rejection and signal codes,
//! and how many blocks and records each day saw.

use std::collections::BTreeMap;

use fundtrail_ledger::block::Code;
use fundtrail_ledger::types::Date;
use serde::{Deserialize, Serialize};

const MS_PER_DAY: u64 = 86_400_000;
/// 9999-12-31, the last day a [`Date`] can name.
const LAST_DAY: u32 = 2_932_896;

/// The UTC day a block timestamp (ms since the Unix epoch) falls on.
pub fn day_of(timestamp_ms: u64) -> Date {
    let days = u32::try_from(timestamp_ms / MS_PER_DAY).unwrap_or(LAST_DAY);
    Date::from_days(days.min(LAST_DAY))
}

/// How often each code occurred, overall and per day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeSeries {
    pub totals: BTreeMap<Code, u64>,
    /// Days on which at least one of the codes occurred, in order.
    pub by_day: Vec<DayCounts>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCounts {
    pub day: Date,
    pub total: u64,
    pub by_code: BTreeMap<Code, u64>,
}

impl CodeSeries {
    pub fn total(&self) -> u64 {
        self.totals.values().sum()
    }

    /// Codes by descending count (ties by name).
    pub fn ranked(&self) -> Vec<(&Code, u64)> {
        let mut ranked: Vec<(&Code, u64)> = self.totals.iter().map(|(c, n)| (c, *n)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        ranked
    }
}

#[derive(Default)]
pub(crate) struct SeriesBuilder {
    days: BTreeMap<Date, BTreeMap<Code, u64>>,
}

impl SeriesBuilder {
    pub fn add(&mut self, day: Date, code: &Code) {
        let counts = self.days.entry(day).or_default();
        *counts.entry(code.clone()).or_default() += 1;
    }

    pub fn finish(self) -> CodeSeries {
        let mut totals: BTreeMap<Code, u64> = BTreeMap::new();
        let by_day = self
            .days
            .into_iter()
            .map(|(day, by_code)| {
                for (code, n) in &by_code {
                    *totals.entry(code.clone()).or_default() += n;
                }
                DayCounts {
                    day,
                    total: by_code.values().sum(),
                    by_code,
                }
            })
            .collect();
        CodeSeries { totals, by_day }
    }
}

/// What one day of the chain held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayActivity {
    pub day: Date,
    pub blocks: u64,
    pub records: u64,
    pub rejected: u64,
}

#[derive(Default)]
pub(crate) struct ActivityBuilder {
    days: BTreeMap<Date, DayActivity>,
}

impl ActivityBuilder {
    pub fn block(&mut self, day: Date) {
        self.day(day).blocks += 1;
    }

    pub fn record(&mut self, day: Date, accepted: bool) {
        let activity = self.day(day);
        activity.records += 1;
        if !accepted {
            activity.rejected += 1;
        }
    }

    fn day(&mut self, day: Date) -> &mut DayActivity {
        self.days.entry(day).or_insert_with(|| DayActivity {
            day,
            blocks: 0,
            records: 0,
            rejected: 0,
        })
    }

    pub fn finish(self) -> Vec<DayActivity> {
        self.days.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc() {
        assert_eq!(day_of(0).to_string(), "1970-01-01");
        assert_eq!(day_of(1_767_225_600_000).to_string(), "2026-01-01");
        assert_eq!(day_of(1_767_225_600_000 - 1).to_string(), "2025-12-31");
        assert_eq!(day_of(u64::MAX).to_string(), "9999-12-31");
    }

    #[test]
    fn totals_sum_the_days() {
        let code = |s: &str| Code::new(s).unwrap();
        let mut b = SeriesBuilder::default();
        b.add(day_of(0), &code("A"));
        b.add(day_of(MS_PER_DAY), &code("A"));
        b.add(day_of(MS_PER_DAY), &code("B"));
        let s = b.finish();
        assert_eq!(s.totals[&code("A")], 2);
        assert_eq!(s.total(), 3);
        assert_eq!(s.by_day.len(), 2);
        assert_eq!(s.by_day[1].total, 2);
        assert_eq!(s.ranked()[0].0, &code("A"));
    }
}
