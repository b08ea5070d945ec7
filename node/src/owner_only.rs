//! Files and directories only their owner may touch. A data directory is
//! created 0700 and an existing one that group or others can enter is
//! refused; a key file is written 0600 and never overwritten, and one that
//! group or others can read is refused on read; a log file is created 0600
//! and one that group or others can read is refused when opened. Nothing is
//! tightened silently: a refusal says which `chmod` fixes it.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use zeroize::Zeroizing;

/// Permission bits that give group or others any access.
const GROUP_OR_OTHERS: u32 = 0o077;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(
        "key file {path} is open to group or others (mode {mode:04o}); a key file must be \
         its owner's only: run `chmod 600 {path}`"
    )]
    ExposedFile { path: PathBuf, mode: u32 },
    #[error(
        "log file {path} is open to group or others (mode {mode:04o}); it must be its \
         owner's only: run `chmod 600 {path}`"
    )]
    ExposedLog { path: PathBuf, mode: u32 },
    #[error(
        "data directory {path} is open to group or others (mode {mode:04o}); it must be its \
         owner's only: run `chmod 700 {path}`"
    )]
    ExposedDirectory { path: PathBuf, mode: u32 },
    #[error("{path} is not a directory")]
    NotADirectory { path: PathBuf },
    /// The I/O error is shown in the message, not chained under it, so a
    /// report of the chain does not say it twice.
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> AccessError + '_ {
    move |cause| AccessError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// Creates `dir` (and missing parents) with mode 0700, or checks that an
/// existing `dir` is a directory only its owner can enter.
pub fn create_or_check_dir(dir: &Path) -> Result<(), AccessError> {
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => Err(AccessError::NotADirectory {
            path: dir.to_path_buf(),
        }),
        Ok(meta) => check_dir_mode(dir, meta.permissions().mode()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error(dir)),
        Err(e) => Err(io_error(dir)(e)),
    }
}

fn check_dir_mode(dir: &Path, mode: u32) -> Result<(), AccessError> {
    if mode & GROUP_OR_OTHERS != 0 {
        return Err(AccessError::ExposedDirectory {
            path: dir.to_path_buf(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

/// Writes `bytes` to a new file at `path` with mode 0600; an existing file
/// is never overwritten.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), AccessError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(bytes).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

/// Reads a key file after checking, on the open file, that group and
/// others have no access to it. The text is wiped when dropped.
pub fn read_key_file(path: &Path) -> Result<Zeroizing<String>, AccessError> {
    let mut file = std::fs::File::open(path).map_err(io_error(path))?;
    if let Some(mode) = exposed_mode(&file, path)? {
        return Err(AccessError::ExposedFile {
            path: path.to_path_buf(),
            mode,
        });
    }
    // Sized up front, so no copy of the secret is left behind by a
    // reallocation.
    let len = file.metadata().map_err(io_error(path))?.len();
    let mut text = Zeroizing::new(String::with_capacity(len as usize + 1));
    file.read_to_string(&mut text).map_err(io_error(path))?;
    Ok(text)
}

/// Opens the log file at `path` to read it and append to it, creating it
/// with mode 0600 if it does not exist; an existing one that group or
/// others can reach is refused (checked on the open file).
pub fn open_log(path: &Path) -> Result<std::fs::File, AccessError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path))?;
    if let Some(mode) = exposed_mode(&file, path)? {
        return Err(AccessError::ExposedLog {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(file)
}

/// The open file's permission bits, if group or others have any access.
fn exposed_mode(file: &std::fs::File, path: &Path) -> Result<Option<u32>, AccessError> {
    let mode = file
        .metadata()
        .map_err(io_error(path))?
        .permissions()
        .mode();
    Ok((mode & GROUP_OR_OTHERS != 0).then_some(mode & 0o7777))
}

/// Whether `path` lies inside `dir`, comparing absolute paths with `.` and
/// `..` resolved and symbolic links followed as far as the paths exist.
pub fn is_inside(path: &Path, dir: &Path) -> bool {
    resolved(path).starts_with(resolved(dir))
}

/// `path` made absolute with `.` and `..` resolved, then its longest
/// existing prefix canonicalised (following symbolic links).
fn resolved(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    let mut lexical = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::CurDir => {}
            other => lexical.push(other),
        }
    }
    let mut existing = lexical.as_path();
    let mut rest = Vec::new();
    let canonical = loop {
        if let Ok(c) = existing.canonicalize() {
            break c;
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent;
            }
            _ => break existing.to_path_buf(),
        }
    };
    rest.iter()
        .rev()
        .fold(canonical, |out, part| out.join(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
    }

    #[test]
    fn a_key_file_open_to_group_or_others_is_refused_and_an_owner_only_one_is_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("node.key");
        write_new(&path, b"{\"secret\": 1}").expect("written");
        assert_eq!(mode_of(&path), 0o600, "written owner-only");
        assert_eq!(
            read_key_file(&path).expect("0600 is read").as_str(),
            "{\"secret\": 1}"
        );
        for mode in [0o644, 0o640, 0o604, 0o660] {
            set_mode(&path, mode);
            let err = read_key_file(&path).expect_err("refused").to_string();
            assert!(
                err.contains(&format!("chmod 600 {}", path.display())),
                "{err}"
            );
            assert!(err.contains(&format!("{mode:04o}")), "{err}");
        }
        set_mode(&path, 0o400);
        assert!(read_key_file(&path).is_ok(), "0400 is owner-only too");
    }

    #[test]
    fn a_key_file_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("vault.key");
        write_new(&path, b"first").expect("written");
        assert!(write_new(&path, b"second").is_err());
        assert_eq!(std::fs::read(&path).expect("read"), b"first");
    }

    #[test]
    fn a_log_file_is_created_0600_and_one_open_to_group_or_others_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("access.log");
        let mut file = open_log(&path).expect("created");
        assert_eq!(mode_of(&path), 0o600, "created owner-only");
        file.write_all(b"one\n").expect("append");
        drop(file);
        let mut again = open_log(&path).expect("an owner-only log opens");
        again.write_all(b"two\n").expect("append");
        assert_eq!(std::fs::read(&path).expect("read"), b"one\ntwo\n");
        for mode in [0o644, 0o640, 0o604, 0o660] {
            set_mode(&path, mode);
            let err = open_log(&path).expect_err("refused").to_string();
            assert!(
                err.contains(&format!("chmod 600 {}", path.display())),
                "{err}"
            );
            assert_eq!(mode_of(&path), mode, "nothing is tightened silently");
        }
    }

    #[test]
    fn a_fresh_data_directory_is_created_0700_and_an_open_one_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fresh = dir.path().join("nodes").join("data");
        create_or_check_dir(&fresh).expect("created");
        assert_eq!(mode_of(&fresh), 0o700);
        create_or_check_dir(&fresh).expect("an owner-only directory is accepted");

        let open = dir.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        set_mode(&open, 0o755);
        let err = create_or_check_dir(&open)
            .expect_err("0755 is refused")
            .to_string();
        assert!(
            err.contains(&format!("chmod 700 {}", open.display())),
            "{err}"
        );
        assert_eq!(mode_of(&open), 0o755, "nothing is tightened silently");
        set_mode(&open, 0o750);
        assert!(
            create_or_check_dir(&open).is_err(),
            "group access is refused"
        );

        let file = dir.path().join("file");
        std::fs::write(&file, b"").expect("write");
        assert!(matches!(
            create_or_check_dir(&file),
            Err(AccessError::NotADirectory { .. })
        ));
    }

    #[test]
    fn a_path_is_inside_a_directory_however_it_is_spelt() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("mkdir");
        assert!(is_inside(&data.join("vault.key"), &data));
        assert!(is_inside(&data.join("sub/../vault.key"), &data));
        assert!(is_inside(&dir.path().join("keys/../data/vault.key"), &data));
        assert!(!is_inside(&dir.path().join("keys/vault.key"), &data));
        assert!(!is_inside(&data.join("../vault.key"), &data));
        assert!(!is_inside(&dir.path().join("data2/vault.key"), &data));
        // A data directory not created yet.
        let later = dir.path().join("later");
        assert!(is_inside(&later.join("v.key"), &later));
    }
}
