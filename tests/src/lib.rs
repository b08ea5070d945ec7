//! End-to-end tests live in `tests/`; `src/bin` holds helper processes they
//! drive (see tests/README.md), [`cluster`] starts real multi-node
//! networks for them, [`edge_sig`] crafts edge-case signatures, and
//! [`hostile`] speaks to a node as a peer that holds a genesis node key
//! but lies. [`data_tempdir`] is a temporary data directory a node accepts.

pub mod cluster;
pub mod edge_sig;
pub mod hostile;

/// A temporary directory only its owner can enter, as a node requires of
/// its data directory (it refuses one that group or others can enter).
pub fn data_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .expect("temp dir")
}
