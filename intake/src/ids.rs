//! Raw identifiers: ID-card and bill numbers, validated on parse and never
//! shown (hidden in `Debug`, absent from every error).

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an ID-card number was refused. Never carries the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdCardError {
    #[error("ID-card number must be 18 characters")]
    Length,
    #[error("ID-card number must be 17 digits followed by a digit or X")]
    NotDigits,
    #[error("ID-card number has an impossible birth date")]
    BirthDate,
    #[error("ID-card number check digit does not match (GB 11643)")]
    CheckDigit,
}

/// A resident ID-card number (GB 11643): 6-digit region, 8-digit birth date,
/// 3-digit sequence and a check digit (`0`–`9` or `X`). Validated on parse,
/// stored upper-case, hidden in `Debug`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IdCard(String);

/// GB 11643 weights `2^(17-i) mod 11` of the first 17 digits.
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

impl IdCard {
    /// Validates an ID-card number (a lower-case `x` is accepted).
    pub fn parse(s: &str) -> Result<IdCard, IdCardError> {
        let s = s.trim().to_ascii_uppercase();
        let bytes = s.as_bytes();
        if bytes.len() != 18 {
            return Err(IdCardError::Length);
        }
        let (body, last) = bytes.split_at(17);
        if !body.iter().all(u8::is_ascii_digit) || !(last[0].is_ascii_digit() || last[0] == b'X') {
            return Err(IdCardError::NotDigits);
        }
        if !birth_date_valid(&body[6..14]) {
            return Err(IdCardError::BirthDate);
        }
        if check_digit(body) != last[0] {
            return Err(IdCardError::CheckDigit);
        }
        Ok(IdCard(s))
    }

    /// Completes 17 leading digits with their check digit.
    pub fn with_check_digit(first17: &str) -> Result<IdCard, IdCardError> {
        let bytes = first17.as_bytes();
        if bytes.len() != 17 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(IdCardError::NotDigits);
        }
        IdCard::parse(&format!("{first17}{}", char::from(check_digit(bytes))))
    }

    /// The number itself, for pseudonymisation and the private vault only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn check_digit(first17: &[u8]) -> u8 {
    let sum: u32 = first17
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize]
}

fn birth_date_valid(yyyymmdd: &[u8]) -> bool {
    let n = |r: std::ops::Range<usize>| {
        yyyymmdd[r]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let (y, m, d) = (n(0..4), n(4..6), n(6..8));
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => 0,
    };
    (1900..=2100).contains(&y) && (1..=days).contains(&d)
}

impl fmt::Debug for IdCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdCard(hidden)")
    }
}

/// Why a hospital bill number was refused. Never carries the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BillNoError {
    #[error("bill number must be 1 to 64 characters")]
    Length,
    #[error("bill number may contain only ASCII letters, digits and - _ / .")]
    Characters,
}

/// A hospital's bill number, unique within its institution. Hidden in `Debug`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BillNo(String);

impl BillNo {
    /// Validates a bill number.
    pub fn parse(s: &str) -> Result<BillNo, BillNoError> {
        let s = s.trim();
        if s.is_empty() || s.len() > 64 {
            return Err(BillNoError::Length);
        }
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.');
        if !s.chars().all(ok) {
            return Err(BillNoError::Characters);
        }
        Ok(BillNo(s.to_string()))
    }

    /// The number itself, for pseudonymisation and the private vault only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BillNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BillNo(hidden)")
    }
}

/// Why a submission reference was refused. Never carries the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("reference must be 1 to 64 characters")]
    Length,
    #[error("reference may contain only ASCII letters, digits and - _ / . :")]
    Characters,
}

/// A department's own business reference for a line: a settlement serial
/// (结算流水号), a disbursement order number, an appropriation document.
/// It decides the record's identity (docs/SUBMISSION.md, "Record
/// identity") and never leaves the department's machine: only a keyed
/// digest of it reaches the chain, as the record's nonce. Hidden in `Debug`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference(String);

impl Reference {
    /// Validates a reference.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let s = s.trim();
        if s.is_empty() || s.len() > 64 {
            return Err(ReferenceError::Length);
        }
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.' | ':');
        if !s.chars().all(ok) {
            return Err(ReferenceError::Characters);
        }
        Ok(Reference(s.to_string()))
    }

    /// The reference itself, for deriving the record's identity only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reference(hidden)")
    }
}

/// Deserialises a raw identifier from a JSON string only, with errors that
/// never echo the value (serde's own "invalid type" errors would).
struct RawVisitor<T, Er> {
    what: &'static str,
    parse: fn(&str) -> Result<T, Er>,
}

impl<T, Er: fmt::Display> Visitor<'_> for RawVisitor<T, Er> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} as a JSON string", self.what)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<T, E> {
        Err(self.not_a_string())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
        Err(self.not_a_string())
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<T, E> {
        Err(self.not_a_string())
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<T, E> {
        Err(self.not_a_string())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        Err(self.not_a_string())
    }
}

impl<T, Er> RawVisitor<T, Er> {
    fn not_a_string<E: de::Error>(&self) -> E {
        E::custom(format_args!("{} must be a JSON string", self.what))
    }
}

macro_rules! raw_serde {
    ($ty:ident, $what:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(RawVisitor {
                    what: $what,
                    parse: $ty::parse,
                })
            }
        }
    };
}

raw_serde!(IdCard, "ID-card number");
raw_serde!(BillNo, "bill number");
raw_serde!(Reference, "reference");
