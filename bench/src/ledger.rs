//! Ledger benchmark: append+commit and verify rates.
