//! `manifest.json`, typed end to end: the format version, the build parameters, what the
//! index was built from, every file's size and xxh3 checksum, and the rankers' training
//! report when the bundle has rankers.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{BundleProblem, Error, Result};
use crate::index::IndexParams;
use crate::training::TrainReport;

/// Version of the directory layout; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;
/// Name of the manifest file.
pub const MANIFEST: &str = "manifest.json";

/// Size and checksum of one file of the bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub bytes: u64,
    pub xxh3: String,
}

impl std::fmt::Display for FileEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes, xxh3 {}", self.bytes, self.xxh3)
    }
}

/// What the index was built from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSummary {
    pub files: Vec<String>,
    pub sessions: u64,
    pub events: u64,
    pub ts_min: u32,
    pub ts_max: u32,
}

/// The shape of the item vectors file: `rows` aids × `dim` little-endian f32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VectorShape {
    pub rows: usize,
    pub dim: usize,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub otto_rec_version: String,
    pub created_at: String,
    pub parameters: IndexParams,
    pub input: InputSummary,
    /// Every file of the bundle, by name.
    pub files: BTreeMap<String, FileEntry>,
    /// The shape of `item_vectors.f32`, when the bundle has item vectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vectors: Option<VectorShape>,
    /// The shape of each half of `next_item_vectors.f32`, when the bundle has a next-item
    /// model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_vectors: Option<VectorShape>,
    /// How the rankers were trained and what they scored, when the bundle has rankers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainReport>,
}

impl Manifest {
    /// A manifest for a new build (no files yet).
    pub fn new(parameters: IndexParams, input: InputSummary) -> Self {
        Manifest {
            format_version: FORMAT_VERSION,
            otto_rec_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at: humantime::format_rfc3339_seconds(build_time()).to_string(),
            parameters,
            input,
            files: BTreeMap::new(),
            vectors: None,
            next_vectors: None,
            training: None,
        }
    }

    /// The manifest as written to disk.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest serialises")
    }

    /// Reads `dir/manifest.json` (without checking the files it lists). A missing manifest
    /// is [`BundleProblem::ManifestMissing`]; any other failure names its cause.
    pub fn read(dir: &Path) -> Result<(Manifest, String)> {
        let path = dir.join(MANIFEST);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::bundle(dir, BundleProblem::ManifestMissing));
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| Error::bundle(dir, BundleProblem::ManifestCorrupt(e.to_string())))?;
        manifest.parameters.adopt_legacy();
        if manifest.format_version != FORMAT_VERSION {
            return Err(Error::bundle(
                dir,
                BundleProblem::FormatVersion {
                    found: manifest.format_version,
                    expected: FORMAT_VERSION,
                },
            ));
        }
        Ok((manifest, text))
    }

    /// Checks that every file listed is present and matches its size and checksum.
    pub fn verify_files(&self, dir: &Path) -> Result<()> {
        for (name, expected) in &self.files {
            let actual = checksum(&dir.join(name)).map_err(|e| match e {
                Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    Error::bundle(dir, BundleProblem::FileMissing(name.clone()))
                }
                other => other,
            })?;
            if &actual != expected {
                return Err(Error::bundle(
                    dir,
                    BundleProblem::ChecksumMismatch {
                        name: name.clone(),
                        actual: actual.to_string(),
                        expected: expected.to_string(),
                    },
                ));
            }
        }
        Ok(())
    }
}

/// The time stamped into manifests: `SOURCE_DATE_EPOCH` when set (reproducible builds),
/// else now.
fn build_time() -> std::time::SystemTime {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or_else(std::time::SystemTime::now, |s| {
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(s)
        })
}

/// The xxh3-64 checksum of bytes, as 16 hex digits.
pub fn hash_hex(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

/// The size and xxh3-64 checksum of a file.
pub fn checksum(path: &Path) -> Result<FileEntry> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(FileEntry {
        bytes,
        xxh3: format!("{:016x}", hasher.digest()),
    })
}
