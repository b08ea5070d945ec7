//! Plain-language meanings of the contracts' rejection and signal codes
//! (docs/RULES.md), for readers of the report who do not know the rules.

use fundtrail_contracts::RuleCode;

/// What `code` means, if this build knows it.
pub fn meaning(code: &str) -> Option<&'static str> {
    RuleCode::parse(code).map(RuleCode::meaning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_has_a_meaning_by_name() {
        for code in RuleCode::ALL {
            assert_eq!(meaning(code.as_str()), Some(code.meaning()));
            assert_eq!(RuleCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(meaning("NOT_A_CODE"), None);
    }
}
