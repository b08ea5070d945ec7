//! Domain types shared by every record: identifiers, dates, money and the
//! small enums of the medical-protection system.
//!
//! Every type validates on deserialisation, so a value that exists is valid:
//! bytes from outside cannot produce an `Amount` with three decimals or a
//! label with spaces in it.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Block height. Genesis is height 0; the first block is height 1.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Height(pub u64);

impl Height {
    pub fn next(self) -> Height {
        Height(self.0 + 1)
    }
}

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a label was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {why}")]
pub struct LabelError {
    pub what: &'static str,
    pub value: String,
    pub why: &'static str,
}

pub const MAX_LABEL_LEN: usize = 64;

fn check_label(what: &'static str, value: &str) -> Result<(), LabelError> {
    let fail = |why| {
        Err(LabelError {
            what,
            value: value.chars().take(MAX_LABEL_LEN).collect(),
            why,
        })
    };
    if value.is_empty() {
        return fail("empty");
    }
    if value.len() > MAX_LABEL_LEN {
        return fail("longer than 64 bytes");
    }
    // Byte by byte: a non-ASCII character's bytes are all non-ASCII too.
    let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':');
    if !value.bytes().all(ok) {
        return fail("only ASCII letters, digits and - _ . : are allowed");
    }
    Ok(())
}

/// Declares a validated ASCII identifier type (1–64 of `[A-Za-z0-9._:-]`).
macro_rules! label {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        // By hand rather than `into = "String"`, which clones the label on
        // every encode.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $name::new(String::deserialize(d)?).map_err(D::Error::custom)
            }
        }

        impl $name {
            pub fn new(value: impl Into<String>) -> Result<Self, LabelError> {
                let value = value.into();
                check_label($what, &value)?;
                Ok($name(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = LabelError;
            fn try_from(value: String) -> Result<Self, LabelError> {
                $name::new(value)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl FromStr for $name {
            type Err = LabelError;
            fn from_str(s: &str) -> Result<Self, LabelError> {
                $name::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

label!(
    /// The chain's name, e.g. `gd-medfund-2026`. Part of every signed message.
    ChainId,
    "chain id"
);
label!(
    /// An organisation (department) in the consortium, e.g. `gd-insurance`.
    OrgId,
    "org id"
);
label!(
    /// An administrative region code (GB/T 2260), e.g. `440100`.
    RegionCode,
    "region code"
);
label!(
    /// A medical institution's public registration code. Not personal data.
    InstitutionId,
    "institution id"
);
label!(
    /// A fund account, e.g. `basic-440100`.
    FundId,
    "fund id"
);
label!(
    /// A DRG or DIP payment group code.
    GroupCode,
    "group code"
);

/// What an organisation is allowed to submit (design §3).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 医保: policies, filings, settlements, clearing, assistance fund.
    Insurance,
    /// 民政: eligibility decisions and assistance.
    CivilAffairs,
    /// 卫健: claims on behalf of hospitals.
    Health,
    /// 财政: fund credits.
    Finance,
    /// Read-only observer (audit office). May file disclosures only.
    Auditor,
}

/// What a key of an organisation is for.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyRole {
    /// Signs records the organisation submits.
    Submitter,
    /// Approves payouts and membership changes (separation of duties).
    Officer,
    /// A node's libp2p identity; signs attestations.
    Node,
    /// Reads through the API within its organisation's scope (a
    /// department's reporting system); signs no records.
    Reader,
}

/// Assistance eligibility categories (救助对象类别).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 特困供养人员
    Tekun,
    /// 孤儿
    Orphan,
    /// 低保对象
    Dibao,
    /// 低保边缘
    DibaoEdge,
    /// 返贫致贫监测对象
    PovertyMonitoring,
    /// 因病致贫重病患者
    IllnessPoverty,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Tekun,
        Category::Orphan,
        Category::Dibao,
        Category::DibaoEdge,
        Category::PovertyMonitoring,
        Category::IllnessPoverty,
    ];
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstitutionLevel {
    Grassroots,
    Secondary,
    Tertiary,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Admission {
    Inpatient,
    Outpatient,
}

/// Which basic-insurance scheme the patient is insured under.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsuredType {
    /// 城乡居民基本医疗保险
    Resident,
    /// 职工基本医疗保险
    Employee,
}

/// An insurance tier paid by a `settlement` record.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    Basic,
    CriticalIllness,
    Supplementary,
}

/// What a fund pays for. A payout may only draw on a fund of its own kind.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FundKind {
    Basic,
    CriticalIllness,
    Supplementary,
    Assistance,
}

impl From<Scheme> for FundKind {
    fn from(s: Scheme) -> FundKind {
        match s {
            Scheme::Basic => FundKind::Basic,
            Scheme::CriticalIllness => FundKind::CriticalIllness,
            Scheme::Supplementary => FundKind::Supplementary,
        }
    }
}

/// A calendar date (proleptic Gregorian), encoded as days since 1970-01-01.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(u32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date {0:?}: expected YYYY-MM-DD between 1970-01-01 and 9999-12-31")]
pub struct DateError(String);

impl Date {
    pub fn from_days(days: u32) -> Date {
        Date(days)
    }

    pub fn days(self) -> u32 {
        self.0
    }

    pub fn from_ymd(year: u32, month: u32, day: u32) -> Option<Date> {
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date(days_from_civil(year, month, day)))
    }

    /// `(year, month, day)`.
    pub fn ymd(self) -> (u32, u32, u32) {
        civil_from_days(self.0)
    }

    pub fn year(self) -> u32 {
        self.ymd().0
    }

    /// Whole days from `earlier` to `self` (0 when `earlier` is later).
    pub fn days_since(self, earlier: Date) -> u32 {
        self.0.saturating_sub(earlier.0)
    }
}

fn is_leap(y: u32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil, restricted to years >= 1970.
fn days_from_civil(y: u32, m: u32, d: u32) -> u32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: u32) -> (u32, u32, u32) {
    let z = u64::from(days) + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y as u32, m as u32, d as u32)
}

impl FromStr for Date {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Date, DateError> {
        let err = || DateError(s.chars().take(16).collect());
        let parts: Vec<&str> = s.split('-').collect();
        let well_formed = parts.len() == 3
            && parts[0].len() == 4
            && parts[1].len() == 2
            && parts[2].len() == 2
            && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if !well_formed {
            return Err(err());
        }
        let n = |p: &str| p.parse::<u32>().map_err(|_| err());
        Date::from_ymd(n(parts[0])?, n(parts[1])?, n(parts[2])?).ok_or_else(err)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_u32(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(D::Error::custom)
        } else {
            let days = u32::deserialize(d)?;
            if days > MAX_DATE_DAYS {
                return Err(D::Error::custom("date after 9999-12-31"));
            }
            Ok(Date(days))
        }
    }
}

/// Days from 1970-01-01 to 9999-12-31.
const MAX_DATE_DAYS: u32 = 2_932_896;

/// A ratio in basis points: 7000 = 70.00 %.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Bp(pub u16);

impl Bp {
    pub const FULL: Bp = Bp(10_000);

    pub fn saturating_add(self, other: Bp) -> Bp {
        Bp(self.0.saturating_add(other.0).min(Self::FULL.0))
    }
}

/// Money in yuan: a non-negative decimal with exactly two places (fen),
/// at most [`Amount::MAX_FEN`] fen. Encoded canonically as a `u64` count of fen and in
/// JSON as a string such as `"1234.50"` (never a JSON number: no floats).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(Decimal);

impl Default for Amount {
    fn default() -> Amount {
        Amount::ZERO
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount {0:?} is not a decimal number of yuan")]
    NotANumber(String),
    #[error("amount {0:?} has more than two decimal places")]
    TooPrecise(String),
    #[error("amount {0:?} is negative")]
    Negative(String),
    #[error("amount {0:?} exceeds the maximum 10000000000000.00")]
    TooLarge(String),
}

impl Amount {
    pub const ZERO: Amount = Amount(Decimal::from_parts(0, 0, 0, false, 2));
    /// 10^13 yuan: far above any fund, far below `u64::MAX` fen.
    pub const MAX_FEN: u64 = 1_000_000_000_000_000;

    pub fn from_fen(fen: u64) -> Result<Amount, AmountError> {
        if fen > Self::MAX_FEN {
            return Err(AmountError::TooLarge(fen.to_string()));
        }
        Ok(Amount::from_fen_in_range(fen))
    }

    /// `fen` fen, which must be at most [`Amount::MAX_FEN`]: the decimal is
    /// built from its parts, skipping the general constructor's checks.
    const fn from_fen_in_range(fen: u64) -> Amount {
        Amount(Decimal::from_parts(
            fen as u32,
            (fen >> 32) as u32,
            0,
            false,
            2,
        ))
    }

    /// Whole yuan, for literals in code and tests.
    pub fn yuan(yuan: u64) -> Amount {
        Amount::from_fen(yuan.saturating_mul(100).min(Self::MAX_FEN)).unwrap_or(Amount::ZERO)
    }

    pub fn fen(self) -> u64 {
        let mantissa = self.0.mantissa();
        debug_assert_eq!(self.0.scale(), 2);
        mantissa as u64
    }

    pub fn as_decimal(self) -> Decimal {
        self.0
    }

    /// Exact conversion: refuses anything but a non-negative value with at
    /// most two decimal places within range.
    pub fn from_decimal(d: Decimal) -> Result<Amount, AmountError> {
        let shown = || d.to_string();
        if d.is_sign_negative() && !d.is_zero() {
            return Err(AmountError::Negative(shown()));
        }
        let normalized = d.normalize();
        if normalized.scale() > 2 {
            return Err(AmountError::TooPrecise(shown()));
        }
        let mut scaled = d;
        scaled.rescale(2);
        let fen = u64::try_from(scaled.mantissa()).map_err(|_| AmountError::TooLarge(shown()))?;
        Amount::from_fen(fen)
    }

    /// Rounds half away from zero to 0.01 (design §3), clamping at zero.
    pub fn round_from(d: Decimal) -> Amount {
        if d.is_sign_negative() {
            return Amount::ZERO;
        }
        let rounded = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        Amount::from_decimal(rounded).unwrap_or(Amount::from_fen_in_range(Self::MAX_FEN))
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        Amount::from_fen(self.fen().checked_add(other.fen())?).ok()
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        Amount::from_fen(self.fen().checked_sub(other.fen())?).ok()
    }

    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount::from_fen(self.fen().saturating_sub(other.fen())).unwrap_or(Amount::ZERO)
    }

    /// `self × ratio`, rounded half away from zero to the fen and clamped at
    /// [`Amount::MAX_FEN`]. Both factors are non-negative integers (fen and
    /// basis points), so this is exact integer arithmetic on the fen: the
    /// same result as the decimal product rounded by [`Amount::round_from`],
    /// without a decimal division on every quote.
    pub fn mul_bp(self, ratio: Bp) -> Amount {
        const BP_PER_ONE: u128 = 10_000;
        let product = u128::from(self.fen()) * u128::from(ratio.0);
        let rounded = (product + BP_PER_ONE / 2) / BP_PER_ONE;
        Amount::from_fen_in_range(rounded.min(u128::from(Self::MAX_FEN)) as u64)
    }

    pub fn min(self, other: Amount) -> Amount {
        std::cmp::min(self, other)
    }
}

impl FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Amount, AmountError> {
        let shown = || s.chars().take(32).collect::<String>();
        let well_formed = !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && s.bytes().filter(|b| *b == b'.').count() <= 1
            && !s.starts_with('.')
            && !s.ends_with('.');
        if s.starts_with('-') {
            return Err(AmountError::Negative(shown()));
        }
        if !well_formed {
            return Err(AmountError::NotANumber(shown()));
        }
        let d = Decimal::from_str_exact(s).map_err(|_| AmountError::TooLarge(shown()))?;
        Amount::from_decimal(d).map_err(|e| match e {
            AmountError::TooPrecise(_) => AmountError::TooPrecise(shown()),
            AmountError::TooLarge(_) => AmountError::TooLarge(shown()),
            other => other,
        })
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fen = self.fen();
        write!(f, "{}.{:02}", fen / 100, fen % 100)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "¥{self}")
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_u64(self.fen())
        }
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(D::Error::custom)
        } else {
            Amount::from_fen(u64::deserialize(d)?).map_err(D::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_days() {
        for s in [
            "1970-01-01",
            "2000-02-29",
            "2024-12-31",
            "2026-03-01",
            "9999-12-31",
        ] {
            let d: Date = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
            assert_eq!(Date::from_days(d.days()), d);
        }
        assert_eq!("1970-01-02".parse::<Date>().unwrap().days(), 1);
        assert_eq!("9999-12-31".parse::<Date>().unwrap().days(), MAX_DATE_DAYS);
    }

    #[test]
    fn bad_dates_are_refused() {
        for s in [
            "2023-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-01-01",
            "1969-12-31",
            "x",
        ] {
            assert!(s.parse::<Date>().is_err(), "{s}");
        }
    }

    #[test]
    fn amounts_parse_only_two_decimals() {
        assert_eq!("12.5".parse::<Amount>().unwrap().fen(), 1250);
        assert_eq!("12".parse::<Amount>().unwrap().to_string(), "12.00");
        assert!(matches!(
            "1.005".parse::<Amount>(),
            Err(AmountError::TooPrecise(_))
        ));
        assert!(matches!(
            "-1".parse::<Amount>(),
            Err(AmountError::Negative(_))
        ));
        assert!(matches!(
            "1e3".parse::<Amount>(),
            Err(AmountError::NotANumber(_))
        ));
        assert!(matches!(
            "10000000000000.01".parse::<Amount>(),
            Err(AmountError::TooLarge(_))
        ));
    }

    #[test]
    fn integer_ratio_is_the_decimal_product_rounded() {
        let by_decimal = |a: Amount, r: Bp| {
            Amount::round_from(a.as_decimal() * Decimal::from(r.0) / Decimal::from(10_000u32))
        };
        let fens = [0, 1, 2, 3, 5, 49, 50, 51, 99, 12_345, 99_995, 1_000_001];
        let fens = fens
            .into_iter()
            .chain([Amount::MAX_FEN / 3, Amount::MAX_FEN]);
        let ratios = [
            0,
            1,
            2,
            4_999,
            5_000,
            5_001,
            6_500,
            9_999,
            10_000,
            10_001,
            u16::MAX,
        ];
        for fen in fens {
            for r in ratios {
                let (a, r) = (Amount::from_fen(fen).unwrap(), Bp(r));
                assert_eq!(a.mul_bp(r), by_decimal(a, r), "{fen} fen x {} bp", r.0);
            }
        }
    }

    #[test]
    fn ratio_rounds_half_away_from_zero() {
        // 0.05 × 50 % = 0.025 → 0.03
        assert_eq!(Amount::from_fen(5).unwrap().mul_bp(Bp(5000)).fen(), 3);
        // 0.03 × 50 % = 0.015 → 0.02
        assert_eq!(Amount::from_fen(3).unwrap().mul_bp(Bp(5000)).fen(), 2);
        assert_eq!(Amount::yuan(90_000).mul_bp(Bp(6500)), Amount::yuan(58_500));
    }

    #[test]
    fn labels_refuse_spaces_and_empty() {
        assert!(OrgId::new("gd-insurance").is_ok());
        assert!(OrgId::new("").is_err());
        assert!(OrgId::new("has space").is_err());
        assert!(OrgId::new("x".repeat(65)).is_err());
        assert!(OrgId::new("a.b_c:d-1").is_ok());
        assert!(OrgId::new("医保").is_err());
        assert!(OrgId::new("gd-é").is_err());
        assert!(OrgId::new("tab\there").is_err());
    }

    #[test]
    fn default_amount_is_zero_with_two_places() {
        assert_eq!(Amount::default(), Amount::ZERO);
        assert_eq!(Amount::default().to_string(), "0.00");
    }

    #[test]
    fn amount_json_is_a_string() {
        let a = Amount::from_fen(123_450).unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"1234.50\"");
        assert!(serde_json::from_str::<Amount>("1234.5").is_err());
    }
}
