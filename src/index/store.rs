//! The model directory on disk (design.md §6): the three co-visitation tables, item
//! statistics and popular items as Parquet, and `manifest.json` with the build parameters,
//! the input's size and every file's size and xxh3 checksum.
//!
//! Every file is written atomically and the manifest last (after removing any old one), so
//! a directory whose build was interrupted has no manifest, or one whose checksums do not
//! match, and [`load`] refuses it with a message naming the file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::{CovisitTable, Index, IndexParams, ItemStats, Popular, TableKind};
use crate::data::EventType;
use crate::data::atomic::write_atomic;
use crate::error::{Error, Result};

/// Version of the directory layout; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;
/// Name of the manifest file.
pub const MANIFEST: &str = "manifest.json";
/// Item statistics file.
pub const ITEM_STATS: &str = "item_stats.parquet";
/// Popular items file.
pub const POPULAR: &str = "popular.parquet";

/// The file holding a co-visitation table.
pub fn table_file(kind: TableKind) -> String {
    format!("covisit_{}.parquet", kind.name())
}

/// Size and checksum of one file of the bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub bytes: u64,
    pub xxh3: String,
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
    /// The rankers' feature names and training report, when `train` wrote rankers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<serde_json::Value>,
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
            training: None,
        }
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

fn artifact(dir: &Path, message: impl Into<String>) -> Error {
    Error::Artifact {
        dir: dir.to_path_buf(),
        message: message.into(),
    }
}

/// The xxh3-64 checksum of a file, as 16 hex digits.
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

/// Writes a data frame to `path` as Parquet, atomically.
pub fn write_frame(path: &Path, mut frame: DataFrame) -> Result<()> {
    write_atomic(path, |out| {
        ParquetWriter::new(out)
            .finish(&mut frame)
            .map_err(|e| Error::polars(path, e))?;
        Ok(())
    })
}

fn to_i32(values: &[u32]) -> Vec<i32> {
    values.iter().map(|&v| v as i32).collect()
}

fn table_frame(table: &CovisitTable) -> PolarsResult<DataFrame> {
    let (x, y, w) = table.to_rows();
    df!["aid_x" => to_i32(&x), "aid_y" => to_i32(&y), "weight" => w]
}

fn stats_frame(stats: &ItemStats) -> PolarsResult<DataFrame> {
    let aid: Vec<i32> = (0..stats.aid_bound() as i32).collect();
    let col = |v: &[[u32; 3]], t: usize| v.iter().map(|c| c[t]).collect::<Vec<u32>>();
    df![
        "aid" => aid,
        "clicks" => col(&stats.counts, 0),
        "carts" => col(&stats.counts, 1),
        "orders" => col(&stats.counts, 2),
        "clicks_recent" => col(&stats.recent, 0),
        "carts_recent" => col(&stats.recent, 1),
        "orders_recent" => col(&stats.recent, 2),
        "sessions" => stats.sessions.clone(),
        "weekend_share" => stats.weekend_share.clone(),
        "mean_hour" => stats.mean_hour.clone(),
    ]
}

fn popular_frame(popular: &Popular) -> PolarsResult<DataFrame> {
    let (mut kind, mut rank, mut aid) = (Vec::new(), Vec::new(), Vec::new());
    for t in EventType::ALL {
        for (r, &a) in popular.of(t).iter().enumerate() {
            kind.push(t as u8);
            rank.push(r as u32);
            aid.push(a as i32);
        }
    }
    df!["type" => kind, "rank" => rank, "aid" => aid]
}

/// Writes an index into `dir` with its manifest (written last).
pub fn save(dir: &Path, index: &Index, mut manifest: Manifest) -> Result<Manifest> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let manifest_path = dir.join(MANIFEST);
    if manifest_path.exists() {
        std::fs::remove_file(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
    }
    let mut frames: Vec<(String, DataFrame)> = Vec::new();
    for kind in TableKind::ALL {
        let path = dir.join(table_file(kind));
        frames.push((
            table_file(kind),
            table_frame(index.table(kind)).map_err(|e| Error::polars(&path, e))?,
        ));
    }
    frames.push((
        ITEM_STATS.into(),
        stats_frame(&index.stats).map_err(|e| Error::polars(dir.join(ITEM_STATS), e))?,
    ));
    frames.push((
        POPULAR.into(),
        popular_frame(&index.popular).map_err(|e| Error::polars(dir.join(POPULAR), e))?,
    ));
    for (name, frame) in frames {
        let path = dir.join(&name);
        write_frame(&path, frame)?;
        manifest.files.insert(name, checksum(&path)?);
    }
    write_manifest(dir, &manifest)?;
    Ok(manifest)
}

/// Writes `manifest.json` atomically.
pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let path = dir.join(MANIFEST);
    let text = serde_json::to_string_pretty(manifest).expect("manifest serialises");
    write_atomic(&path, |out| {
        use std::io::Write;
        out.write_all(text.as_bytes())
            .map_err(|e| Error::io(&path, e))
    })
}

/// Reads `manifest.json` and checks that every file it lists is present and intact.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(artifact(
                dir,
                format!(
                    "{} is missing: not a model directory, or its build did not finish",
                    path.display()
                ),
            ));
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| artifact(dir, format!("{} is corrupt: {e}", path.display())))?;
    if manifest.format_version != FORMAT_VERSION {
        return Err(artifact(
            dir,
            format!(
                "{} has format version {}, this otto-rec reads version {FORMAT_VERSION}: rebuild the index",
                path.display(),
                manifest.format_version
            ),
        ));
    }
    for (name, expected) in &manifest.files {
        let file = dir.join(name);
        if !file.exists() {
            return Err(artifact(dir, format!("{} is missing", file.display())));
        }
        let actual = checksum(&file)?;
        if &actual != expected {
            return Err(artifact(
                dir,
                format!(
                    "{} does not match manifest.json ({} bytes, xxh3 {}; expected {} bytes, xxh3 {}): the file is corrupt or from another build",
                    file.display(),
                    actual.bytes,
                    actual.xxh3,
                    expected.bytes,
                    expected.xxh3
                ),
            ));
        }
    }
    Ok(manifest)
}

fn read_frame(dir: &Path, name: &str) -> Result<DataFrame> {
    let path = dir.join(name);
    let file =
        File::open(&path).map_err(|_| artifact(dir, format!("{} is missing", path.display())))?;
    ParquetReader::new(file).finish().map_err(|e| {
        artifact(
            dir,
            format!("{} is not readable Parquet: {e}", path.display()),
        )
    })
}

fn column<T: PolarsNumericType>(
    dir: &Path,
    name: &str,
    df: &DataFrame,
    col: &str,
    dtype: DataType,
) -> Result<Vec<T::Native>> {
    let bad = |what: String| {
        artifact(
            dir,
            format!("{}: column `{col}` {what}", dir.join(name).display()),
        )
    };
    let column = df.column(col).map_err(|_| bad("is missing".into()))?;
    let cast = column
        .cast(&dtype)
        .map_err(|e| bad(format!("has the wrong type: {e}")))?;
    let series = cast.as_materialized_series();
    let values: &ChunkedArray<T> = series
        .as_ref()
        .unpack::<T>()
        .map_err(|e| bad(format!("has the wrong type: {e}")))?;
    if values.null_count() > 0 {
        return Err(bad("has nulls".into()));
    }
    Ok(values.into_no_null_iter().collect())
}

fn to_u32(dir: &Path, name: &str, values: Vec<i32>) -> Result<Vec<u32>> {
    values
        .into_iter()
        .map(|v| {
            u32::try_from(v).map_err(|_| {
                artifact(
                    dir,
                    format!("{}: negative aid {v}", dir.join(name).display()),
                )
            })
        })
        .collect()
}

fn load_table(dir: &Path, kind: TableKind) -> Result<CovisitTable> {
    let name = table_file(kind);
    let df = read_frame(dir, &name)?;
    let x = to_u32(
        dir,
        &name,
        column::<Int32Type>(dir, &name, &df, "aid_x", DataType::Int32)?,
    )?;
    let y = to_u32(
        dir,
        &name,
        column::<Int32Type>(dir, &name, &df, "aid_y", DataType::Int32)?,
    )?;
    let w = column::<Float32Type>(dir, &name, &df, "weight", DataType::Float32)?;
    CovisitTable::from_rows(&x, &y, &w)
        .map_err(|e| artifact(dir, format!("{}: {}", dir.join(&name).display(), e.0)))
}

fn load_stats(dir: &Path) -> Result<ItemStats> {
    let df = read_frame(dir, ITEM_STATS)?;
    let u = |c: &str| column::<UInt32Type>(dir, ITEM_STATS, &df, c, DataType::UInt32);
    let f = |c: &str| column::<Float32Type>(dir, ITEM_STATS, &df, c, DataType::Float32);
    let aid = column::<Int32Type>(dir, ITEM_STATS, &df, "aid", DataType::Int32)?;
    if aid.iter().enumerate().any(|(i, &a)| a != i as i32) {
        return Err(artifact(
            dir,
            format!(
                "{}: rows are not aids 0..n in order",
                dir.join(ITEM_STATS).display()
            ),
        ));
    }
    let zip3 = |a: Vec<u32>, b: Vec<u32>, c: Vec<u32>| -> Vec<[u32; 3]> {
        a.into_iter()
            .zip(b)
            .zip(c)
            .map(|((a, b), c)| [a, b, c])
            .collect()
    };
    Ok(ItemStats {
        counts: zip3(u("clicks")?, u("carts")?, u("orders")?),
        recent: zip3(u("clicks_recent")?, u("carts_recent")?, u("orders_recent")?),
        sessions: u("sessions")?,
        weekend_share: f("weekend_share")?,
        mean_hour: f("mean_hour")?,
    })
}

fn load_popular(dir: &Path) -> Result<Popular> {
    let df = read_frame(dir, POPULAR)?;
    let kind = column::<UInt8Type>(dir, POPULAR, &df, "type", DataType::UInt8)?;
    let aid = to_u32(
        dir,
        POPULAR,
        column::<Int32Type>(dir, POPULAR, &df, "aid", DataType::Int32)?,
    )?;
    let mut popular = Popular::default();
    for (k, a) in kind.into_iter().zip(aid) {
        let t = EventType::from_code(k as i64).ok_or_else(|| {
            artifact(
                dir,
                format!("{}: unknown type {k}", dir.join(POPULAR).display()),
            )
        })?;
        popular.by_type[t.index()].push(a);
    }
    Ok(popular)
}

/// Loads a model directory's index after checking its manifest.
pub fn load(dir: &Path) -> Result<(Manifest, Index)> {
    if !dir.is_dir() {
        return Err(artifact(
            dir,
            "not found (build one with `otto-rec build-index`)",
        ));
    }
    let manifest = read_manifest(dir)?;
    let tables = [
        load_table(dir, TableKind::Clicks)?,
        load_table(dir, TableKind::CartsOrders)?,
        load_table(dir, TableKind::Buy2Buy)?,
    ];
    let index = Index {
        tables,
        stats: load_stats(dir)?,
        popular: load_popular(dir)?,
    };
    Ok((manifest, index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{WorldConfig, simulate};

    fn built() -> (tempfile::TempDir, Index) {
        let log = simulate(WorldConfig {
            sessions: 1_500,
            items: 800,
            seed: 1,
        });
        let params = IndexParams::default();
        let index = super::super::build(&log, &params, &|_, _| indicatif::ProgressBar::hidden());
        let dir = tempfile::tempdir().unwrap();
        save(
            dir.path(),
            &index,
            Manifest::new(params, InputSummary::default()),
        )
        .unwrap();
        (dir, index)
    }

    #[test]
    fn loading_what_was_written_gives_back_the_same_index() {
        let (dir, index) = built();
        let (manifest, loaded) = load(dir.path()).unwrap();
        assert_eq!(loaded, index);
        assert_eq!(manifest.files.len(), 5);
        assert!(index.table(TableKind::Clicks).num_pairs() > 0);
    }

    #[test]
    fn a_missing_manifest_or_a_changed_file_is_refused_naming_the_file() {
        let (dir, _) = built();
        let clicks = dir.path().join(table_file(TableKind::Clicks));
        let mut bytes = std::fs::read(&clicks).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&clicks, bytes).unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("covisit_clicks.parquet") && err.contains("does not match"),
            "{err}"
        );

        std::fs::remove_file(dir.path().join(MANIFEST)).unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("manifest.json is missing"),
            "{err}"
        );
        assert_eq!(err.exit_code(), 1);
    }
}
