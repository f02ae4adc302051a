//! The Parquet files of a bundle: the three co-visitation tables (`aid_x` int32, `aid_y`
//! int32, `weight` float32, sorted by aid_x then best first, so pandas or polars users can
//! read them as they are), item statistics and popular items.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use super::manifest::VectorShape;
use crate::data::atomic::write_atomic;
use crate::domain::EventType;
use crate::embedding::Embeddings;
use crate::error::{BundleProblem, Error, Result};
use crate::index::{CovisitTable, ItemRecord, ItemStats, Popular, TableKind};

/// Item statistics file.
pub const ITEM_STATS: &str = "item_stats.parquet";
/// Popular items file.
pub const POPULAR: &str = "popular.parquet";
/// Item vectors: `rows × dim` little-endian f32, the shape in the manifest.
pub const VECTORS: &str = "item_vectors.f32";
/// Similar items, in the co-visitation table format (weight = cosine).
pub const SIMILAR: &str = "similar_items.parquet";

/// The vectors as little-endian bytes.
pub fn vector_bytes(e: &Embeddings) -> Vec<u8> {
    e.rows().iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Reads the item vectors file of `shape`.
pub fn load_vectors(dir: &Path, shape: VectorShape) -> Result<Embeddings> {
    let path = dir.join(VECTORS);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::bundle(
                dir,
                BundleProblem::FileMissing(VECTORS.into()),
            ));
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    if shape.dim == 0 || bytes.len() != shape.rows * shape.dim * 4 {
        return Err(unreadable(
            dir,
            VECTORS,
            format!(
                "{} bytes, but the manifest says {} × {} f32",
                bytes.len(),
                shape.rows,
                shape.dim
            ),
        ));
    }
    let values = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Embeddings::from_unit_rows(shape.dim, values))
}

/// The file holding a co-visitation table.
pub fn table_file(kind: TableKind) -> String {
    format!("covisit_{}.parquet", kind.name())
}

fn unreadable(dir: &Path, name: &str, detail: impl Into<String>) -> Error {
    Error::bundle(
        dir,
        BundleProblem::FileUnreadable {
            name: name.to_string(),
            detail: detail.into(),
        },
    )
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

/// A table as a data frame.
pub fn table_frame(table: &CovisitTable) -> PolarsResult<DataFrame> {
    let (x, y, w) = table.to_rows();
    df!["aid_x" => to_i32(&x), "aid_y" => to_i32(&y), "weight" => w]
}

/// Item statistics as a data frame.
pub fn stats_frame(stats: &ItemStats) -> PolarsResult<DataFrame> {
    let aid: Vec<i32> = (0..stats.aid_bound() as i32).collect();
    let col = |f: &dyn Fn(&ItemRecord) -> u32| stats.items.iter().map(f).collect::<Vec<u32>>();
    let share = |f: &dyn Fn(&ItemRecord) -> f32| stats.items.iter().map(f).collect::<Vec<f32>>();
    df![
        "aid" => aid,
        "clicks" => col(&|r| r.counts[0]),
        "carts" => col(&|r| r.counts[1]),
        "orders" => col(&|r| r.counts[2]),
        "clicks_recent" => col(&|r| r.recent[0]),
        "carts_recent" => col(&|r| r.recent[1]),
        "orders_recent" => col(&|r| r.recent[2]),
        "clicks_last_day" => col(&|r| r.last_day[0]),
        "carts_last_day" => col(&|r| r.last_day[1]),
        "orders_last_day" => col(&|r| r.last_day[2]),
        "sessions" => col(&|r| r.sessions),
        "repeat_sessions" => col(&|r| r.repeat_sessions),
        "weekend_share" => share(&|r| r.weekend_share),
        "mean_hour" => share(&|r| r.mean_hour),
    ]
}

/// Popular items as a data frame.
pub fn popular_frame(popular: &Popular) -> PolarsResult<DataFrame> {
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

/// Reads file `name` of `dir`: one Parquet file, or a directory of Parquet part files
/// (what Spark and other cluster jobs write), read in name order as one frame.
fn read_frame(dir: &Path, name: &str) -> Result<DataFrame> {
    let path = dir.join(name);
    if path.is_dir() {
        return read_parts(dir, name);
    }
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::bundle(
                dir,
                BundleProblem::FileMissing(name.to_string()),
            ));
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    ParquetReader::new(file)
        .finish()
        .map_err(|e| unreadable(dir, name, format!("not readable Parquet: {e}")))
}

fn read_parts(dir: &Path, name: &str) -> Result<DataFrame> {
    let path = dir.join(name);
    let parts = crate::data::parquet_parts(&path)?;
    let mut frame: Option<DataFrame> = None;
    for part in &parts {
        let file = File::open(part).map_err(|e| Error::io(part, e))?;
        let part_name = part.file_name().unwrap_or_default().to_string_lossy();
        let df = ParquetReader::new(file).finish().map_err(|e| {
            unreadable(
                dir,
                name,
                format!("{part_name} is not readable Parquet: {e}"),
            )
        })?;
        match &mut frame {
            None => frame = Some(df),
            Some(f) => {
                f.vstack_mut(&df).map_err(|e| {
                    unreadable(dir, name, format!("{part_name} has another schema: {e}"))
                })?;
            }
        }
    }
    frame.ok_or_else(|| unreadable(dir, name, "a directory without Parquet files"))
}

fn column<T: PolarsNumericType>(
    dir: &Path,
    name: &str,
    df: &DataFrame,
    col: &str,
    dtype: DataType,
) -> Result<Vec<T::Native>> {
    let bad = |what: String| unreadable(dir, name, format!("column `{col}` {what}"));
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
        .map(|v| u32::try_from(v).map_err(|_| unreadable(dir, name, format!("negative aid {v}"))))
        .collect()
}

/// Reads a co-visitation table file and checks its invariants (at most `top_k` rows per
/// aid_x, best first, no duplicate pairs, finite weights).
pub fn load_table(dir: &Path, name: &str, top_k: usize) -> Result<CovisitTable> {
    let df = read_frame(dir, name)?;
    let x = to_u32(
        dir,
        name,
        column::<Int32Type>(dir, name, &df, "aid_x", DataType::Int32)?,
    )?;
    let y = to_u32(
        dir,
        name,
        column::<Int32Type>(dir, name, &df, "aid_y", DataType::Int32)?,
    )?;
    let w = column::<Float32Type>(dir, name, &df, "weight", DataType::Float32)?;
    let table_error = |source| {
        Error::bundle(
            dir,
            BundleProblem::Table {
                name: name.to_string(),
                source,
            },
        )
    };
    let table = CovisitTable::from_rows(&x, &y, &w).map_err(table_error)?;
    table.check(top_k).map_err(table_error)?;
    Ok(table)
}

/// Reads the item statistics file.
pub fn load_stats(dir: &Path) -> Result<ItemStats> {
    let df = read_frame(dir, ITEM_STATS)?;
    let u = |c: &str| column::<UInt32Type>(dir, ITEM_STATS, &df, c, DataType::UInt32);
    let f = |c: &str| column::<Float32Type>(dir, ITEM_STATS, &df, c, DataType::Float32);
    let aid = column::<Int32Type>(dir, ITEM_STATS, &df, "aid", DataType::Int32)?;
    if aid.iter().enumerate().any(|(i, &a)| a != i as i32) {
        return Err(unreadable(
            dir,
            ITEM_STATS,
            "rows are not aids 0..n in order",
        ));
    }
    // Columns added after the first release: a bundle without them reads as zeros.
    let optional = |c: &str| {
        if df.column(c).is_ok() {
            u(c)
        } else {
            Ok(vec![0; aid.len()])
        }
    };
    let (clicks, carts, orders) = (u("clicks")?, u("carts")?, u("orders")?);
    let (clicks_recent, carts_recent, orders_recent) =
        (u("clicks_recent")?, u("carts_recent")?, u("orders_recent")?);
    let (clicks_day, carts_day, orders_day) = (
        optional("clicks_last_day")?,
        optional("carts_last_day")?,
        optional("orders_last_day")?,
    );
    let (sessions, repeat_sessions) = (u("sessions")?, optional("repeat_sessions")?);
    let (weekend_share, mean_hour) = (f("weekend_share")?, f("mean_hour")?);
    let items = (0..aid.len())
        .map(|i| ItemRecord {
            counts: [clicks[i], carts[i], orders[i]],
            recent: [clicks_recent[i], carts_recent[i], orders_recent[i]],
            last_day: [clicks_day[i], carts_day[i], orders_day[i]],
            sessions: sessions[i],
            repeat_sessions: repeat_sessions[i],
            weekend_share: weekend_share[i],
            mean_hour: mean_hour[i],
        })
        .collect();
    let mut stats = ItemStats {
        items,
        totals: [0; 4],
    };
    stats.totals = stats.compute_totals();
    Ok(stats)
}

/// Reads the popular items file.
pub fn load_popular(dir: &Path) -> Result<Popular> {
    let df = read_frame(dir, POPULAR)?;
    let kind = column::<UInt8Type>(dir, POPULAR, &df, "type", DataType::UInt8)?;
    let aid = to_u32(
        dir,
        POPULAR,
        column::<Int32Type>(dir, POPULAR, &df, "aid", DataType::Int32)?,
    )?;
    let mut popular = Popular::default();
    for (k, a) in kind.into_iter().zip(aid) {
        let t = EventType::from_code(k as i64)
            .ok_or_else(|| unreadable(dir, POPULAR, format!("unknown type {k}")))?;
        popular.by_type[t.index()].push(a);
    }
    Ok(popular)
}
