//! Object spilling: the store's capacity (`object_store_memory`) and the local directory
//! that large objects move to when it is full, as Ray spills plasma objects to disk. A
//! spilled object is restored into memory when it is read; its file goes when its last
//! reference does, and the directory goes when the node shuts down.

use std::path::{Path, PathBuf};

use crate::ids::{NodeId, ObjectId};

/// Objects smaller than this stay in memory and are read without the store's lock, and
/// task results smaller than this travel back to the caller at once (Ray's
/// `max_direct_call_object_size`: small objects live in the in-process store, never in
/// plasma, so they are never spilled or left on another node).
pub(crate) const INLINE_MAX: usize = 100 * 1024;

/// Where and past which size a node's store spills.
#[derive(Debug, Clone)]
pub(crate) struct Spill {
    /// Bytes of values the store keeps in memory before spilling.
    pub(crate) capacity: usize,
    /// This node's own spill directory (created on the first spill).
    dir: PathBuf,
}

impl Spill {
    /// `capacity` bytes in memory, spilling under `base` (default: the system's temporary
    /// directory) in a directory of this node's own.
    ///
    /// The directory's name ends in random hex, so nobody can create it (or a symlink in
    /// its place) ahead of the node; it is made 0700 and its files 0600, created new.
    pub(crate) fn new(node: NodeId, capacity: usize, base: Option<&Path>) -> Self {
        let base = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
        Self {
            capacity,
            dir: base.join(format!("ray-spill-{node}-{}", random_hex())),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one object's encoded value (its pieces, in order); returns the file.
    pub(crate) fn write(&self, id: ObjectId, pieces: &[&[u8]]) -> std::io::Result<PathBuf> {
        use std::io::Write as _;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if !self.dir.is_dir() {
            if let Some(base) = self.dir.parent() {
                std::fs::create_dir_all(base)?;
            }
            // Not recursive: the directory itself must be new, and this node's.
            if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(&self.dir)
                && e.kind() != std::io::ErrorKind::AlreadyExists
            {
                return Err(e);
            }
        }
        let path = self.dir.join(id.to_string());
        // A new file: an existing one (or a symlink) at that path is an error.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        for piece in pieces {
            file.write_all(piece)?;
        }
        Ok(path)
    }

    /// Removes the directory and every file left in it (shutdown).
    pub(crate) fn remove_all(&self) {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => tracing::debug!(dir = %self.dir.display(), "spill directory removed"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot remove the spill directory")
            }
        }
    }
}

/// 64 random bits as hex (a time-and-pid mix if the system has no randomness).
fn random_hex() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = (t ^ u64::from(std::process::id()).rotate_left(32)).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Removes a spilled object's file (its last reference went, or it was restored).
pub(crate) fn remove_file(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(file = %path.display(), error = %e, "cannot remove a spilled object");
    }
}
