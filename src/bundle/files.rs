//! The Parquet files of a bundle: the three co-visitation tables (`aid_x` int32, `aid_y`
//! int32, `weight` float32, sorted by aid_x then best first, so pandas or polars users can
//! read them as they are), item statistics and popular items.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use super::manifest::VectorShape;
use crate::data::atomic::write_atomic;
use crate::domain::EventType;
use crate::error::{BundleProblem, Error, Result};
use crate::index::embedding::Embeddings;
use crate::index::embedding::next::NextItemModel;
use crate::index::sessions::SessionIndex;
use crate::index::{CovisitTable, ItemIds, ItemRecord, ItemStats, Popular, TableKind};

/// Item statistics file.
pub const ITEM_STATS: &str = "item_stats.parquet";
/// Popular items file.
pub const POPULAR: &str = "popular.parquet";
/// Item vectors: `rows × dim` little-endian f32, the shape in the manifest.
pub const VECTORS: &str = "item_vectors.f32";
/// The next-item model: its input rows, then its output rows, each `rows × dim`
/// little-endian f32, the shape in the manifest.
pub const NEXT_VECTORS: &str = "next_item_vectors.f32";
/// Similar items, in the co-visitation table format (weight = cosine).
pub const SIMILAR: &str = "similar_items.parquet";
/// Past sessions by item (session-based kNN): little-endian u32, see `session_bytes`.
pub const SESSIONS: &str = "sessions.u32";
/// First word of [`SESSIONS`]: "OTSK" and the layout's version.
const SESSIONS_MAGIC: [u32; 2] = [u32::from_le_bytes(*b"OTSK"), 1];

/// The session index as little-endian u32 words: the magic and version, the lengths of its
/// four arrays, then the arrays (item offsets, item sessions, session offsets, session
/// items), items as positions in `item_stats.parquet`'s order.
pub fn session_bytes(index: &SessionIndex) -> Vec<u8> {
    let parts = index.parts();
    let mut words: Vec<u32> = SESSIONS_MAGIC.to_vec();
    words.extend(parts.iter().map(|p| p.len() as u32));
    let mut bytes =
        Vec::with_capacity(4 * (words.len() + parts.iter().map(|p| p.len()).sum::<usize>()));
    for w in words.iter().chain(parts.iter().flat_map(|p| p.iter())) {
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    bytes
}

/// Reads the session index file of a bundle whose statistics are `stats`, checking its
/// layout and every offset and value.
pub fn load_sessions(dir: &Path, stats: &ItemStats) -> Result<SessionIndex> {
    let bytes = read_bytes(dir, SESSIONS)?;
    let bad = |detail: String| unreadable(dir, SESSIONS, detail);
    if bytes.len() % 4 != 0 || bytes.len() < 24 {
        return Err(bad(format!("{} bytes: not a session index", bytes.len())));
    }
    let mut words = bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let head: Vec<u32> = words.by_ref().take(6).collect();
    if head[..2] != SESSIONS_MAGIC {
        return Err(bad("not a session index of this version (bad magic)".into()));
    }
    let lens: Vec<usize> = head[2..].iter().map(|&l| l as usize).collect();
    if lens.iter().sum::<usize>() != bytes.len() / 4 - 6 {
        return Err(bad(format!(
            "array lengths {lens:?} do not add up to the file's {} words",
            bytes.len() / 4 - 6
        )));
    }
    let mut take = |n: usize| -> Vec<u32> { words.by_ref().take(n).collect() };
    let (a, b, c, d) = (take(lens[0]), take(lens[1]), take(lens[2]), take(lens[3]));
    drop(bytes);
    if a.len() != stats.aid_bound() + 1 {
        return Err(bad(format!(
            "{} items, but the statistics list {}",
            a.len().saturating_sub(1),
            stats.aid_bound()
        )));
    }
    SessionIndex::from_parts(a, b, c, d)
        .map(|index| index.with_idf(stats))
        .map_err(|e| bad(e.to_string()))
}

/// The bytes of the bundle file `name`; a missing file is `bundle_file_missing`.
fn read_bytes(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::bundle(dir, BundleProblem::FileMissing(name.into())))
        }
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// The vectors as little-endian bytes.
pub fn vector_bytes(e: &Embeddings) -> Vec<u8> {
    e.rows().iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Reads the item vectors file of `shape`.
pub fn load_vectors(dir: &Path, shape: VectorShape) -> Result<Embeddings> {
    let bytes = read_bytes(dir, VECTORS)?;
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

/// The next-item model as little-endian bytes: input rows, then output rows.
pub fn next_bytes(model: &NextItemModel) -> Vec<u8> {
    let (input, output) = model.rows();
    input
        .iter()
        .chain(output)
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

/// Reads the next-item model file of `shape`.
pub fn load_next(dir: &Path, shape: VectorShape) -> Result<NextItemModel> {
    let bytes = read_bytes(dir, NEXT_VECTORS)?;
    if shape.dim == 0 || bytes.len() != 2 * shape.rows * shape.dim * 4 {
        return Err(unreadable(
            dir,
            NEXT_VECTORS,
            format!(
                "{} bytes, but the manifest says 2 × {} × {} f32",
                bytes.len(),
                shape.rows,
                shape.dim
            ),
        ));
    }
    let mut values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let output = values.split_off(shape.rows * shape.dim);
    Ok(NextItemModel::from_rows(shape.dim, values, output))
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

/// An aid column: int32, as pandas and polars users expect, while every aid fits; uint32
/// (the same four bytes an aid) when some aid is 2^31 or above, as real logs' ids may be.
fn aid_column(name: &str, positions: &[u32], ids: &ItemIds) -> Column {
    let aids = positions.iter().map(|&p| ids.aid(p));
    if ids.aid_limit() <= i32::MAX as u64 + 1 {
        Column::new(name.into(), aids.map(|a| a as i32).collect::<Vec<i32>>())
    } else {
        Column::new(name.into(), aids.collect::<Vec<u32>>())
    }
}

/// A table as a data frame, with the aids its positions stand for.
pub fn table_frame(table: &CovisitTable, ids: &ItemIds) -> PolarsResult<DataFrame> {
    let (x, y, w) = table.to_rows();
    DataFrame::new(
        x.len(),
        vec![
            aid_column("aid_x", &x, ids),
            aid_column("aid_y", &y, ids),
            Column::new("weight".into(), w),
        ],
    )
}

/// Item statistics as a data frame: a row per position, with its aid.
pub fn stats_frame(stats: &ItemStats, ids: &ItemIds) -> PolarsResult<DataFrame> {
    let positions: Vec<u32> = (0..stats.aid_bound() as u32).collect();
    let aid = aid_column("aid", &positions, ids);
    let col = |f: &dyn Fn(&ItemRecord) -> u32| stats.items.iter().map(f).collect::<Vec<u32>>();
    let share = |f: &dyn Fn(&ItemRecord) -> f32| stats.items.iter().map(f).collect::<Vec<f32>>();
    let mut frame = df![
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
    ]?;
    frame.insert_column(0, aid)?;
    Ok(frame)
}

/// Popular items as a data frame, with the aids their positions stand for.
pub fn popular_frame(popular: &Popular, ids: &ItemIds) -> PolarsResult<DataFrame> {
    let (mut kind, mut rank, mut positions) = (Vec::new(), Vec::new(), Vec::new());
    for t in EventType::ALL {
        for (r, &p) in popular.of(t).iter().enumerate() {
            kind.push(t as u8);
            rank.push(r as u32);
            positions.push(p);
        }
    }
    DataFrame::new(
        kind.len(),
        vec![
            Column::new("type".into(), kind),
            Column::new("rank".into(), rank),
            aid_column("aid", &positions, ids),
        ],
    )
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

/// Column `col` of aids (any integer type, each in 0..2^32).
fn aids(dir: &Path, name: &str, df: &DataFrame, col: &str) -> Result<Vec<u32>> {
    column::<Int64Type>(dir, name, df, col, DataType::Int64)?
        .into_iter()
        .map(|v| {
            u32::try_from(v).map_err(|_| {
                unreadable(
                    dir,
                    name,
                    format!("column `{col}`: aid {v} is not in 0..2^32"),
                )
            })
        })
        .collect()
}

/// Column `col` of aids as positions; an aid without item statistics is
/// [`BundleProblem::UnknownAid`].
fn positions(dir: &Path, name: &str, df: &DataFrame, col: &str, ids: &ItemIds) -> Result<Vec<u32>> {
    let mut values = aids(dir, name, df, col)?;
    for v in &mut values {
        *v = ids.position(*v).ok_or_else(|| {
            Error::bundle(
                dir,
                BundleProblem::UnknownAid {
                    name: name.to_string(),
                    aid: *v,
                },
            )
        })?;
    }
    Ok(values)
}

/// Reads a co-visitation table file, its aids as positions of `ids`, and checks its
/// invariants (at most `top_k` rows per aid_x, best first, no duplicate pairs, finite
/// weights). Positions keep the aids' order, so the checks hold for either.
pub fn load_table(dir: &Path, name: &str, top_k: usize, ids: &ItemIds) -> Result<CovisitTable> {
    let df = read_frame(dir, name)?;
    let x = positions(dir, name, &df, "aid_x", ids)?;
    let y = positions(dir, name, &df, "aid_y", ids)?;
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

/// Reads the item statistics file, and the ids its rows give: one row per position,
/// aids `0..n` (positions are the aids) or any strictly ascending aids.
pub fn load_stats(dir: &Path) -> Result<(ItemStats, ItemIds)> {
    let df = read_frame(dir, ITEM_STATS)?;
    let u = |c: &str| column::<UInt32Type>(dir, ITEM_STATS, &df, c, DataType::UInt32);
    let f = |c: &str| column::<Float32Type>(dir, ITEM_STATS, &df, c, DataType::Float32);
    let aid = aids(dir, ITEM_STATS, &df, "aid")?;
    let n = aid.len();
    let ids = ItemIds::from_rows(aid).map_err(|e| unreadable(dir, ITEM_STATS, e.to_string()))?;
    // Columns added after the first release: a bundle without them reads as zeros.
    let optional = |c: &str| {
        if df.column(c).is_ok() {
            u(c)
        } else {
            Ok(vec![0; n])
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
    let items = (0..n)
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
    Ok((stats, ids))
}

/// Reads the popular items file, its aids as positions of `ids`.
pub fn load_popular(dir: &Path, ids: &ItemIds) -> Result<Popular> {
    let df = read_frame(dir, POPULAR)?;
    let kind = column::<UInt8Type>(dir, POPULAR, &df, "type", DataType::UInt8)?;
    let aid = positions(dir, POPULAR, &df, "aid", ids)?;
    let mut popular = Popular::default();
    for (k, a) in kind.into_iter().zip(aid) {
        let t = EventType::from_code(k as i64)
            .ok_or_else(|| unreadable(dir, POPULAR, format!("unknown type {k}")))?;
        popular.by_type[t.index()].push(a);
    }
    Ok(popular)
}
