//! Escaping and the formatting of numbers, money, dates and ids for the page.

use fundtrail_ledger::hash::Hash32;
use fundtrail_ledger::types::Amount;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    group_thousands(&n.to_string())
}

/// `1234567.80` → `1,234,567.80`.
pub fn money(amount: Amount) -> String {
    let fen = amount.fen();
    format!("{}.{:02}", count(fen / 100), fen % 100)
}

/// A short money label for chart axes: `950`, `12.5k`, `3.2M`, `1.1B`.
pub fn money_compact(fen: u64) -> String {
    let yuan = fen / 100;
    let units = [(1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")];
    for (size, suffix) in units {
        if yuan >= size {
            return with_tenths(yuan, size, suffix);
        }
    }
    yuan.to_string()
}

fn with_tenths(value: u64, size: u64, suffix: &str) -> String {
    let tenths = value * 10 / size;
    match tenths % 10 {
        0 => format!("{}{suffix}", tenths / 10),
        t => format!("{}.{t}{suffix}", tenths / 10),
    }
}

fn group_thousands(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `part / whole` as a percentage with one decimal, e.g. `12.5 %`.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "–".into();
    }
    let tenths = (u128::from(part) * 1000 + u128::from(whole) / 2) / u128::from(whole);
    format!("{}.{} %", tenths / 10, tenths % 10)
}

/// A block time as its UTC day and minute, e.g. `2026-03-01 09:05 UTC`.
pub fn utc_minute(timestamp_ms: u64) -> String {
    let minute_of_day = (timestamp_ms / 60_000) % (24 * 60);
    format!(
        "{} {:02}:{:02} UTC",
        crate::report::day_of(timestamp_ms),
        minute_of_day / 60,
        minute_of_day % 60
    )
}

/// The first 12 hex digits of a hash, enough to find it, too few to matter.
pub fn short_hash(hash: &Hash32) -> String {
    format!("{}…", &hash.to_hex()[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_minute_names_the_day_and_the_minute() {
        assert_eq!(utc_minute(1_767_225_600_000), "2026-01-01 00:00 UTC");
        assert_eq!(
            utc_minute(1_767_225_600_000 + 86_399_999),
            "2026-01-01 23:59 UTC"
        );
        assert_eq!(
            utc_minute(1_767_225_600_000 + 9 * 3_600_000 + 5 * 60_000),
            "2026-01-01 09:05 UTC"
        );
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(money("1234567.8".parse().unwrap()), "1,234,567.80");
        assert_eq!(money(Amount::ZERO), "0.00");
        assert_eq!(money_compact(95_000), "950");
        assert_eq!(money_compact(1_250_000), "12.5k");
        assert_eq!(money_compact(5_000_000_000), "50M");
        assert_eq!(percent(1, 3), "33.3 %");
        assert_eq!(percent(0, 0), "–");
    }
}
