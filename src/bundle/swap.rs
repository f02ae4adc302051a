//! Writing a bundle beside the one it replaces and swapping the two atomically.
//!
//! A [`Staging`] directory is a hidden sibling of the target (same filesystem), filled
//! file by file; [`Staging::commit`] writes the manifest last, syncs, and exchanges the
//! staging directory with the target in one `renameat2(RENAME_EXCHANGE)`: a reader (or a
//! restarting server) sees the complete old bundle or the complete new one, never a mix.
//! Files of the old directory that its manifest does not list (a user's notes) are moved
//! into the new one; the old bundle is then removed. An uncommitted staging directory
//! removes itself when dropped; one left by a killed process is ignored by readers and
//! removed by the next build of the same target.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use polars::prelude::DataFrame;

use super::files::{
    self, ITEM_STATS, NEXT_VECTORS, POPULAR, SESSIONS, SIMILAR, VECTORS, table_file,
};
use super::manifest::{FileEntry, MANIFEST, Manifest, VectorShape, checksum};
use crate::data::atomic::write_atomic;
use crate::error::{BundleProblem, Error, Result};
use crate::index::{Index, TableKind};

/// Removes staging directories of `name` left by processes that no longer run (a build
/// killed before it could clean up). Best effort: what cannot be removed stays.
fn remove_stale(parent: &Path, name: &str) {
    let prefix = format!(".{name}.staging-");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if pid <= 0 || process_runs(pid) {
            continue;
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => log::info!(
                "removed {} (left by a build that was killed)",
                entry.path().display()
            ),
            Err(e) => log::warn!("could not remove {}: {e}", entry.path().display()),
        }
    }
}

/// True when a process with id `pid` exists.
fn process_runs(pid: i32) -> bool {
    // SAFETY: signal 0 sends nothing; kill only checks that the process exists and that
    // we may signal it.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// A new bundle being written beside `target`.
pub struct Staging {
    target: PathBuf,
    path: PathBuf,
    old: Option<Manifest>,
    committed: bool,
}

impl Staging {
    /// Starts a bundle that will replace `target`. `target` must be missing, empty or a
    /// bundle with a readable manifest; anything else is refused untouched.
    pub fn new(target: &Path) -> Result<Self> {
        let old = match std::fs::read_dir(target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                return Err(Error::bundle(target, BundleProblem::NotABundle));
            }
            Err(e) => return Err(Error::io(target, e)),
            Ok(mut entries) => {
                if entries.next().is_none() {
                    None
                } else {
                    match Manifest::read(target) {
                        Ok((manifest, _)) => Some(manifest),
                        Err(e) if e.code() == "manifest_missing" => {
                            return Err(Error::bundle(target, BundleProblem::NotABundle));
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        };
        let name = target
            .file_name()
            .ok_or_else(|| Error::bundle(target, BundleProblem::NotABundle))?;
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        remove_stale(&parent, &name.to_string_lossy());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = parent.join(format!(
            ".{}.staging-{}-{nanos}",
            name.to_string_lossy(),
            std::process::id()
        ));
        std::fs::create_dir(&path).map_err(|e| Error::io(&path, e))?;
        Ok(Staging {
            target: target.to_path_buf(),
            path,
            old,
            committed: false,
        })
    }

    /// The manifest of the bundle being replaced, if there is one.
    pub fn old_manifest(&self) -> Option<&Manifest> {
        self.old.as_ref()
    }

    /// Writes a file of the new bundle.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<FileEntry> {
        let path = self.path.join(name);
        write_atomic(&path, |out| {
            use std::io::Write;
            out.write_all(bytes).map_err(|e| Error::io(&path, e))
        })?;
        checksum(&path)
    }

    /// Writes a data frame as a Parquet file of the new bundle.
    pub fn write_frame(&self, name: &str, frame: DataFrame) -> Result<FileEntry> {
        let path = self.path.join(name);
        files::write_frame(&path, frame)?;
        checksum(&path)
    }

    /// Writes the index files and lists them in `manifest`.
    pub fn write_index(&self, index: &Index, manifest: &mut Manifest) -> Result<()> {
        for kind in TableKind::ALL {
            if manifest.parameters.spec(kind).is_none() {
                continue;
            }
            let name = table_file(kind);
            let frame = files::table_frame(index.table(kind), &index.ids)
                .map_err(|e| Error::polars(self.path.join(&name), e))?;
            let entry = self.write_frame(&name, frame)?;
            manifest.files.insert(name, entry);
        }
        let frame = files::stats_frame(&index.stats, &index.ids)
            .map_err(|e| Error::polars(self.path.join(ITEM_STATS), e))?;
        manifest
            .files
            .insert(ITEM_STATS.into(), self.write_frame(ITEM_STATS, frame)?);
        let frame = files::popular_frame(&index.popular, &index.ids)
            .map_err(|e| Error::polars(self.path.join(POPULAR), e))?;
        manifest
            .files
            .insert(POPULAR.into(), self.write_frame(POPULAR, frame)?);
        if let Some(e) = &index.embeddings {
            let entry = self.write(VECTORS, &files::vector_bytes(&e.vectors))?;
            manifest.files.insert(VECTORS.into(), entry);
            manifest.vectors = Some(VectorShape {
                rows: e.vectors.aid_bound(),
                dim: e.vectors.dim(),
            });
            let frame = files::table_frame(&e.similar, &index.ids)
                .map_err(|err| Error::polars(self.path.join(SIMILAR), err))?;
            manifest
                .files
                .insert(SIMILAR.into(), self.write_frame(SIMILAR, frame)?);
        }
        if let Some(next) = &index.next_item {
            let entry = self.write(NEXT_VECTORS, &files::next_bytes(next))?;
            manifest.files.insert(NEXT_VECTORS.into(), entry);
            manifest.next_vectors = Some(VectorShape {
                rows: next.aid_bound(),
                dim: next.dim(),
            });
        }
        if let Some(sessions) = &index.sessions {
            let entry = self.write(SESSIONS, &files::session_bytes(sessions))?;
            manifest.files.insert(SESSIONS.into(), entry);
        }
        Ok(())
    }

    /// Takes file `name` of the old bundle into the new one unchanged (a hard link, or a
    /// copy across filesystems), checking it against the old manifest.
    pub fn keep(&self, name: &str, old: &Manifest) -> Result<FileEntry> {
        let from = self.target.join(name);
        let to = self.path.join(name);
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(|e| Error::io(&from, e))?;
        }
        let entry = checksum(&to)?;
        if old.files.get(name) != Some(&entry) {
            return Err(Error::bundle(
                &self.target,
                BundleProblem::ChecksumMismatch {
                    name: name.to_string(),
                    actual: entry.to_string(),
                    expected: old
                        .files
                        .get(name)
                        .map_or_else(|| "no entry".into(), |e| e.to_string()),
                },
            ));
        }
        Ok(entry)
    }

    /// Writes the manifest and swaps the new bundle in.
    pub fn commit(mut self, manifest: &Manifest) -> Result<()> {
        self.write(MANIFEST, manifest.to_json().as_bytes())?;
        sync_dir(&self.path)?;
        if self.target.exists() {
            exchange(&self.path, &self.target)?;
        } else {
            std::fs::rename(&self.path, &self.target).map_err(|e| Error::io(&self.target, e))?;
        }
        self.committed = true;
        if let Some(parent) = self.target.parent() {
            let _ = sync_dir(if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            });
        }
        // `path` now holds the old directory: move what its manifest did not list (a user's
        // own files), then remove the rest.
        if let Some(old) = &self.old
            && let Ok(entries) = std::fs::read_dir(&self.path)
        {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let listed = old.files.contains_key(&*name.to_string_lossy());
                let destination = self.target.join(&name);
                if !listed && name != MANIFEST && !destination.exists() {
                    let _ = std::fs::rename(entry.path(), destination);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.path);
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Exchanges two directories atomically. Filesystems without `RENAME_EXCHANGE` get two
/// renames instead (the target is briefly absent).
fn exchange(a: &Path, b: &Path) -> Result<()> {
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(|e| Error::io(p, e.into()));
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: both arguments are NUL-terminated paths that live across the call;
    // renameat2 only reads them.
    let status = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if status == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
        return Err(Error::io(b, err));
    }
    log::warn!(
        "{}: the filesystem cannot exchange directories atomically; replacing in two steps",
        b.display()
    );
    let aside = a.with_extension("old");
    std::fs::rename(b, &aside).map_err(|e| Error::io(b, e))?;
    std::fs::rename(a, b).map_err(|e| Error::io(b, e))?;
    std::fs::rename(&aside, a).map_err(|e| Error::io(a, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A staging directory of a process that no longer runs is removed by the next build;
    /// one of a running process (a build in progress) is left alone.
    #[test]
    fn staging_left_by_a_killed_build_is_removed_and_a_live_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        // Linux pids stay below 2^22, so this process cannot exist.
        let stale = dir.path().join(".model.staging-999999999-1");
        let live = dir
            .path()
            .join(format!(".model.staging-{}-2", std::process::id()));
        let other = dir.path().join(".other.staging-999999999-1");
        for d in [&stale, &live, &other] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("covisit_clicks.parquet"), b"x").unwrap();
        }
        let staging = Staging::new(&dir.path().join("model")).unwrap();
        assert!(!stale.exists());
        assert!(live.exists());
        assert!(
            other.exists(),
            "another target's staging is not ours to remove"
        );
        drop(staging);
    }
}
