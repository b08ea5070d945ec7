//! Contract execution benchmark (filled in with the contract engine).
