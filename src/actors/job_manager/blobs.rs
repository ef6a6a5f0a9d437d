//! The head's store of uploaded builds and working directories, named by their SHA-256:
//! an upload is kept only when its bytes hash to the name it came with, a build only when
//! it is an executable for this machine, and everything lives in a private (0700)
//! directory. A working directory is packed by the submitter (`pack_dir`) and unpacked
//! here (`unpack`), refusing any path that would leave it.

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::transport::{BlobKind, ContentHash, MAX_WORKING_DIR_BYTES, hex, sha256};

/// The ELF machine this build runs on (`e_machine`).
const MACHINE: Option<u16> = if cfg!(target_arch = "x86_64") {
    Some(62)
} else if cfg!(target_arch = "aarch64") {
    Some(183)
} else {
    None
};

/// Why `bytes` cannot run on this machine, if they cannot: not a 64-bit little-endian
/// ELF executable for this CPU.
pub(crate) fn not_runnable_here(bytes: &[u8]) -> Option<String> {
    let platform = format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
    if !bytes.starts_with(b"\x7fELF") {
        return Some(format!(
            "it is not an ELF executable ({platform} runs ELF binaries)"
        ));
    }
    let Some(head) = bytes.get(..20) else {
        return Some(format!(
            "it is a truncated ELF file ({} bytes)",
            bytes.len()
        ));
    };
    let machine = u16::from_le_bytes([head[18], head[19]]);
    let kind = u16::from_le_bytes([head[16], head[17]]);
    if head[4] != 2 || head[5] != 1 || MACHINE.is_some_and(|m| m != machine) {
        return Some(format!(
            "it is an ELF file for another platform (machine {machine}), not for {platform}"
        ));
    }
    // ET_EXEC or ET_DYN (position-independent executables are ET_DYN).
    if kind != 2 && kind != 3 {
        return Some(format!(
            "it is an ELF file of type {kind}, not an executable"
        ));
    }
    None
}

/// One file of a packed working directory.
#[derive(Serialize, Deserialize)]
struct PackedFile {
    /// Its path under the directory, `/`-separated.
    path: String,
    /// Whether it is executable by its owner.
    exec: bool,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

/// Packs the regular files under `dir` (in name order, so the same tree packs to the
/// same bytes and hash), refusing a tree over [`MAX_WORKING_DIR_BYTES`] before reading
/// any of it, and symbolic links (which could point anywhere on the head).
pub(crate) fn pack_dir(dir: &Path) -> Result<Vec<u8>, String> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    let total: u64 = files.iter().map(|(_, len, _)| len).sum();
    if total > MAX_WORKING_DIR_BYTES {
        return Err(format!(
            "the working directory {} holds {total} bytes, over the limit of {MAX_WORKING_DIR_BYTES} bytes",
            dir.display()
        ));
    }
    let mut packed = Vec::with_capacity(files.len());
    for (path, _, exec) in files {
        let data = std::fs::read(dir.join(&path))
            .map_err(|e| format!("cannot read {}: {e}", dir.join(&path).display()))?;
        packed.push(PackedFile { path, exec, data });
    }
    rmp_serde::to_vec(&packed).map_err(|e| e.to_string())
}

/// The files under `at` (relative to `root`) with their sizes and exec bits.
fn collect(root: &Path, at: &Path, out: &mut Vec<(String, u64, bool)>) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries: Vec<_> = std::fs::read_dir(at)
        .map_err(|e| format!("cannot read the working directory {}: {e}", at.display()))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(|e| e.to_string())?;
        let rel = path
            .strip_prefix(root)
            .map_err(|e| e.to_string())?
            .to_str()
            .ok_or_else(|| format!("{} is not a UTF-8 path", path.display()))?
            .to_string();
        if meta.file_type().is_symlink() {
            return Err(format!(
                "the working directory holds a symbolic link, {rel}: copy what it points to instead"
            ));
        } else if meta.is_dir() {
            collect(root, &path, out)?;
        } else if meta.is_file() {
            out.push((rel, meta.len(), meta.permissions().mode() & 0o100 != 0));
        }
    }
    Ok(())
}

/// Unpacks a packed working directory into `into` (which must not exist).
fn unpack(bytes: &[u8], into: &Path) -> Result<(), String> {
    let files: Vec<PackedFile> =
        rmp_serde::from_slice(bytes).map_err(|e| format!("not a packed working directory: {e}"))?;
    private_dir(into)?;
    for f in files {
        let rel = Path::new(&f.path);
        if f.path.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(format!(
                "the working directory names `{}`, a path outside it",
                f.path
            ));
        }
        let path = into.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if f.exec { 0o700 } else { 0o600 })
            .open(&path)
            .and_then(|mut out| out.write_all(&f.data))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Renames `tmp` (once `written`) to `path`; one that another process made first is as
/// good. `tmp` is gone afterwards either way.
fn publish(written: Result<(), String>, tmp: &Path, path: &Path) -> Result<(), String> {
    let renamed = written.and_then(|()| match std::fs::rename(tmp, path) {
        Ok(()) => Ok(()),
        Err(_) if path.exists() => Ok(()),
        Err(e) => Err(format!("cannot store {}: {e}", path.display())),
    });
    if tmp.is_dir() {
        let _ = std::fs::remove_dir_all(tmp);
    } else {
        let _ = std::fs::remove_file(tmp);
    }
    renamed
}

/// Writes a new file of mode `mode` (it must not exist yet).
fn write_private(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| format!("cannot store {}: {e}", path.display()))
}

/// Refuses a directory that is a symlink, is another user's, or that group or others
/// may write: whoever could write there could swap a build after its hash was checked.
fn check_private(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    if !meta.is_dir() || Some(meta.uid()) != me || meta.mode() & 0o022 != 0 {
        return Err(format!(
            "refusing {} for jobs' builds: it must be a directory of this user's that group and others cannot write (mode {:o})",
            dir.display(),
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

/// Creates `dir` (0700); it must not exist yet.
pub(crate) fn private_dir(dir: &Path) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Builds and working directories by content hash, under one private directory.
pub(crate) struct Blobs {
    root: PathBuf,
    /// Builds whose bytes were hashed since this head started (at upload, or before
    /// their first run): a build is run only once its hash matched.
    verified: HashSet<ContentHash>,
}

impl Blobs {
    /// The store under `root`, which is created (0700) when missing.
    pub(crate) fn new(root: PathBuf) -> Result<Self, String> {
        for dir in [root.clone(), root.join("builds"), root.join("dirs")] {
            // Another node of this machine's may share the directory and make it first.
            if !dir.exists() && private_dir(&dir).is_err() && !dir.is_dir() {
                private_dir(&dir)?;
            }
            check_private(&dir)?;
        }
        Ok(Self {
            root,
            verified: HashSet::new(),
        })
    }

    fn path(&self, kind: BlobKind, hash: &ContentHash) -> PathBuf {
        let sub = match kind {
            BlobKind::Build => "builds",
            BlobKind::WorkingDir => "dirs",
        };
        self.root.join(sub).join(hex(hash))
    }

    /// Of `hashes`, those stored as neither a build nor a working directory.
    pub(crate) fn missing(&self, hashes: &[ContentHash]) -> Vec<ContentHash> {
        hashes
            .iter()
            .filter(|h| {
                !self.path(BlobKind::Build, h).exists()
                    && !self.path(BlobKind::WorkingDir, h).exists()
            })
            .copied()
            .collect()
    }

    /// Stores an upload after checking it: its hash, and for a build, that it runs here.
    /// Written under a temporary name and renamed, so a blob is whole or absent.
    pub(crate) fn store(
        &mut self,
        hash: ContentHash,
        kind: BlobKind,
        bytes: &[u8],
    ) -> Result<(), String> {
        if sha256(bytes) != hash {
            return Err("the upload's bytes do not match its SHA-256".into());
        }
        let path = self.path(kind, &hash);
        if path.exists() {
            return Ok(());
        }
        // Written under temporary names and renamed, so a blob is whole or absent, also
        // when another node sharing this directory stores the same one meanwhile.
        let tmp = |ext: &str| path.with_extension(format!("{ext}-{}", crate::ids::NodeId::new()));
        match kind {
            BlobKind::Build => {
                if let Some(why) = not_runnable_here(bytes) {
                    return Err(format!("the program cannot run on this cluster: {why}"));
                }
                let part = tmp("part");
                publish(write_private(&part, bytes, 0o700), &part, &path)?;
            }
            BlobKind::WorkingDir => {
                if bytes.len() as u64 > MAX_WORKING_DIR_BYTES + (1 << 20) {
                    return Err(format!(
                        "the working directory is {} bytes packed, over the limit of {MAX_WORKING_DIR_BYTES} bytes",
                        bytes.len()
                    ));
                }
                // The packed bytes too, for the nodes that fetch it.
                let (dir, pack) = (tmp("part"), tmp("pack"));
                let unpacked = unpack(bytes, &dir);
                let packed = unpacked.and_then(|()| write_private(&pack, bytes, 0o600));
                publish(packed, &pack, &path.with_extension("pack"))
                    .and_then(|()| publish(Ok(()), &dir, &path))
                    .inspect_err(|_| {
                        let _ = std::fs::remove_dir_all(&dir);
                    })?;
            }
        }
        if kind == BlobKind::Build {
            self.verified.insert(hash);
        }
        tracing::info!(hash = %hex(&hash), size = bytes.len(), ?kind, "stored an upload");
        Ok(())
    }

    /// The stored build `hash`, checked against its hash once per head lifetime.
    pub(crate) fn build(&mut self, hash: &ContentHash) -> Result<PathBuf, String> {
        let path = self.path(BlobKind::Build, hash);
        if !self.verified.contains(hash) {
            let bytes = std::fs::read(&path)
                .map_err(|_| format!("no build {} on this cluster: upload it first", hex(hash)))?;
            if sha256(&bytes) != *hash {
                return Err(format!(
                    "the stored build {} does not match its hash: refusing to run it",
                    hex(hash)
                ));
            }
            self.verified.insert(*hash);
        }
        Ok(path)
    }

    /// A stored blob's bytes (a working directory packed), for a node that fetches it.
    pub(super) fn read(&mut self, hash: &ContentHash, kind: BlobKind) -> Result<Vec<u8>, String> {
        let path = match kind {
            BlobKind::Build => self.build(hash)?,
            BlobKind::WorkingDir => self.path(kind, hash).with_extension("pack"),
        };
        std::fs::read(&path).map_err(|_| format!("no {kind:?} {} on this node", hex(hash)))
    }

    /// The stored working directory `hash`.
    pub(crate) fn working_dir(&self, hash: &ContentHash) -> Result<PathBuf, String> {
        let path = self.path(BlobKind::WorkingDir, hash);
        if path.is_dir() {
            Ok(path)
        } else {
            Err(format!(
                "no working directory {} on this cluster: upload it first",
                hex(hash)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_runs_here_and_text_does_not() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(not_runnable_here(&me), None);
        assert!(not_runnable_here(b"#!/bin/sh\necho hi\n").is_some());
        let mut other = me[..64].to_vec();
        other[18] = 0x28; // ARM (32-bit)
        other[19] = 0;
        assert!(
            not_runnable_here(&other)
                .unwrap()
                .contains("another platform")
        );
    }

    #[test]
    fn packed_trees_unpack_and_escapes_are_refused() {
        let base = std::env::temp_dir().join(format!("ray-blobs-{}", crate::ids::NodeId::new()));
        let src = base.join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("a.txt"), "alpha").unwrap();
        std::fs::write(src.join("sub/b.txt"), "beta").unwrap();
        let packed = pack_dir(&src).unwrap();
        assert_eq!(packed, pack_dir(&src).unwrap(), "same tree, same bytes");
        let mut blobs = Blobs::new(base.join("store")).unwrap();
        let hash = sha256(&packed);
        assert!(blobs.store([0; 32], BlobKind::WorkingDir, &packed).is_err());
        blobs.store(hash, BlobKind::WorkingDir, &packed).unwrap();
        let dir = blobs.working_dir(&hash).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("sub/b.txt")).unwrap(),
            "beta"
        );
        assert!(blobs.missing(&[hash, [1; 32]]) == vec![[1; 32]]);

        let evil = rmp_serde::to_vec(&vec![PackedFile {
            path: "../escaped".into(),
            exec: false,
            data: b"x".to_vec(),
        }])
        .unwrap();
        let err = blobs
            .store(sha256(&evil), BlobKind::WorkingDir, &evil)
            .unwrap_err();
        assert!(err.contains("outside"), "{err}");
        assert!(!base.join("store/escaped").exists());

        // A store others may write is refused.
        let open = base.join("open");
        std::fs::create_dir_all(open.join("builds")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(Blobs::new(open).err().unwrap().contains("cannot write"));
        let _ = std::fs::remove_dir_all(&base);
    }
}
