//! Time charts: per-day counts become stacked columns over the chain's
//! period. Long periods are grouped into buckets of several days so the
//! chart stays readable; for code series the most frequent codes each get
//! a colour and the rest are "other".

use fundtrail_ledger::block::Code;
use fundtrail_ledger::types::Date;

use super::charts::{legend, stacked_columns, Column, OTHER, PALETTE};
use super::text::escape;
use crate::report::{CodeSeries, DayActivity};

/// At most this many columns in a time chart.
const MAX_COLUMNS: u32 = 62;

/// The period `[first, last]` cut into equal buckets of whole days.
struct Buckets {
    first: Date,
    width: u32,
    count: u32,
}

impl Buckets {
    fn new(first: Date, last: Date) -> Buckets {
        let span = last.days().saturating_sub(first.days()) + 1;
        let width = span.div_ceil(MAX_COLUMNS).max(1);
        Buckets {
            first,
            width,
            count: span.div_ceil(width),
        }
    }

    fn columns(&self, parts: usize) -> Vec<Column> {
        (0..self.count)
            .map(|i| Column {
                label: month_day(Date::from_days(self.first.days() + i * self.width)),
                parts: vec![0; parts],
            })
            .collect()
    }

    fn index(&self, day: Date) -> Option<usize> {
        let offset = day.days().checked_sub(self.first.days())?;
        let index = offset / self.width;
        (index < self.count).then_some(index as usize)
    }

    fn caption(&self, last: Date) -> String {
        let unit = match self.width {
            1 => "one column per day (UTC)".to_string(),
            w => format!("one column per {w} days (UTC), labelled by its first day"),
        };
        format!(
            r#"<p class="caption">{} · {} to {}</p>"#,
            escape(&unit),
            self.first,
            last
        )
    }
}

/// A stacked column chart of `series` over `[first, last]` with its legend.
pub fn codes_chart(series: &CodeSeries, first: Date, last: Date, label: &str) -> String {
    let ranked = series.ranked();
    let named: Vec<&Code> = ranked.iter().take(PALETTE.len()).map(|(c, _)| *c).collect();
    let buckets = Buckets::new(first, last);
    let mut columns = buckets.columns(named.len() + 1);
    for day in &series.by_day {
        let Some(column) = buckets.index(day.day).and_then(|i| columns.get_mut(i)) else {
            continue;
        };
        for (code, n) in &day.by_code {
            let slot = named.iter().position(|c| *c == code).unwrap_or(named.len());
            column.parts[slot] += n;
        }
    }
    let mut colors: Vec<&str> = PALETTE[..named.len()].to_vec();
    colors.push(OTHER);
    let mut items: Vec<(String, &str)> = named
        .iter()
        .zip(PALETTE)
        .map(|(c, color)| (c.to_string(), color))
        .collect();
    if ranked.len() > named.len() {
        items.push(("other codes".into(), OTHER));
    }
    format!(
        "{}{}{}",
        stacked_columns(&columns, &colors, label),
        legend(&items),
        buckets.caption(last)
    )
}

/// Accepted and rejected records per day over `[first, last]`.
pub fn activity_chart(activity: &[DayActivity], first: Date, last: Date) -> String {
    const ACCEPTED: &str = PALETTE[0];
    const REJECTED: &str = PALETTE[1];
    let buckets = Buckets::new(first, last);
    let mut columns = buckets.columns(2);
    for day in activity {
        if let Some(column) = buckets.index(day.day).and_then(|i| columns.get_mut(i)) {
            column.parts[0] += day.records.saturating_sub(day.rejected);
            column.parts[1] += day.rejected;
        }
    }
    let items = [
        ("accepted".to_string(), ACCEPTED),
        ("rejected".to_string(), REJECTED),
    ];
    format!(
        "{}{}{}",
        stacked_columns(&columns, &[ACCEPTED, REJECTED], "Records per day"),
        legend(&items),
        buckets.caption(last)
    )
}

fn month_day(d: Date) -> String {
    let (_, m, day) = d.ymd();
    format!("{m:02}-{day:02}")
}
