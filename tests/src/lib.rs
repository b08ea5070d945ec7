//! End-to-end tests live in `tests/`; `src/bin` holds helper processes they
//! drive (see tests/README.md).
