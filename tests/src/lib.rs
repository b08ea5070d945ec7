//! End-to-end tests live in `tests/`; `src/bin` holds helper processes they
//! drive (see tests/README.md), [`cluster`] starts real multi-node
//! networks for them, [`edge_sig`] crafts edge-case signatures, and
//! [`hostile`] speaks to a node as a peer that holds a genesis node key
//! but lies.

pub mod cluster;
pub mod edge_sig;
pub mod hostile;
