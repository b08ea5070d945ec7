//! End-to-end tests live in `tests/`; `src/bin` holds helper processes they
//! drive (see tests/README.md), and [`cluster`] starts real multi-node
//! networks for them.

pub mod cluster;
