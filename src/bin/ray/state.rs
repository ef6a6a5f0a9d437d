//! Where `ray start` keeps what later commands need: the join address (which holds the
//! cluster token), the nodes it started, their logs. One directory per user, mode 0700:
//! `$RAY_TMPDIR`, else `$XDG_RUNTIME_DIR/ray`, else `ray-UID` in the temp directory. A
//! directory that another user owns, or that group or others may write, is refused:
//! whoever can write there could plant an address or swap a file for a symlink. Inside a
//! private directory only this user can create or replace files, so what is written
//! there (0600) cannot be redirected.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::CliResult;

/// This user's id: the owner of `/proc/self`.
fn uid() -> CliResult<u32> {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(|e| format!("cannot tell this user's id: {e}"))
}

fn location() -> CliResult<PathBuf> {
    if let Some(dir) = std::env::var_os("RAY_TMPDIR").filter(|d| !d.is_empty()) {
        return Ok(dir.into());
    }
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(run).join("ray"));
    }
    Ok(std::env::temp_dir().join(format!("ray-{}", uid()?)))
}

/// Checks that `dir` is a directory (not a symlink) of this user's that nobody else may
/// write.
fn check_private(dir: &Path) -> CliResult {
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let me = uid()?;
    let why = if !meta.file_type().is_dir() {
        Some("it is not a directory".to_string())
    } else if meta.uid() != me {
        Some(format!(
            "it belongs to user {}, not to you ({me})",
            meta.uid()
        ))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "group or others may write it (mode {:o})",
            meta.mode() & 0o777
        ))
    } else {
        None
    };
    match why {
        Some(why) => Err(format!(
            "refusing the state directory {}: {why}; remove it, or set RAY_TMPDIR to a \
             directory of your own",
            dir.display()
        )),
        None => Ok(()),
    }
}

/// `dir`, created (0700) when missing, and checked.
fn private_dir(dir: PathBuf) -> CliResult<PathBuf> {
    if std::fs::symlink_metadata(&dir).is_err() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    check_private(&dir)?;
    Ok(dir)
}

/// The state directory, created (0700) and checked.
pub(super) fn dir() -> CliResult<PathBuf> {
    private_dir(location()?)
}

/// Its `logs` directory, created (0700) and checked.
pub(super) fn logs() -> CliResult<PathBuf> {
    private_dir(dir()?.join("logs"))
}

/// Opens a new file of the state directory for writing, readable by this user only.
pub(super) fn create(path: &Path) -> CliResult<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    // An existing file keeps its mode on open: make it private too.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
    Ok(file)
}

/// Writes `contents` to `name` in the state directory (0600).
pub(super) fn write(name: &str, contents: &str) -> CliResult {
    use std::io::Write as _;
    let path = dir()?.join(name);
    create(&path)?
        .write_all(contents.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Reads `name` from the state directory, if it is there.
pub(super) fn read(name: &str) -> Option<String> {
    let dir = dir().ok()?;
    std::fs::read_to_string(dir.join(name)).ok()
}

/// When process `pid` started (clock ticks since boot): with the pid, what tells a node
/// `ray start` started from a later process that reuses its pid.
pub(super) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (in parentheses); start time is field 22.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Records a node `ray start` started (and the cluster's address, for a head).
pub(super) fn remember(pid: u32, address: Option<&str>) -> CliResult {
    let mut list = read("pids").unwrap_or_default();
    list.push_str(&format!("{pid} {}\n", start_time(pid).unwrap_or(0)));
    write("pids", &list)?;
    if let Some(a) = address {
        write("address", a)?;
    }
    Ok(())
}

/// The nodes `ray start` started that still run as the same processes (a pid reused by
/// another process since is left alone).
pub(super) fn our_nodes() -> Vec<u32> {
    read("pids")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let pid: u32 = f.next()?.parse().ok()?;
            let started: u64 = f.next()?.parse().ok()?;
            (start_time(pid) == Some(started)).then_some(pid)
        })
        .collect()
}

/// Joins the cluster at `address`, or the one `ray start` started here, as a tool (no
/// job), once per command. Joining brings the head's node and job tables, loads
/// included: a command can ask at once.
pub(super) fn connect(address: Option<&str>) -> CliResult {
    if ray::is_initialized() {
        return Ok(());
    }
    let address = match address {
        Some(a) => a.to_string(),
        None => read("address").ok_or_else(|| {
            "no cluster found: pass --address (or set RAY_ADDRESS), or start one with `ray start --head`"
                .to_string()
        })?,
    };
    ray::init_with(ray::Config::new().address(address.trim()).without_job())
        .map_err(|e| e.to_string())
}
