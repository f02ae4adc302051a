//! A co-visitation table in RAM: for each aid_x its neighbours aid_y and weights, best
//! first, in flat arrays indexed by offsets (CSR), so a lookup is two slices.

use rayon::prelude::*;

use super::prefetch;

/// Neighbours per aid, best first (weight descending, then smaller aid_y).
#[derive(Clone, Debug, PartialEq)]
pub struct CovisitTable {
    /// `offsets[x]..offsets[x + 1]` index `neighbors` and `weights`; length = aids + 1.
    offsets: Vec<u32>,
    neighbors: Vec<u32>,
    weights: Vec<f32>,
}

impl Default for CovisitTable {
    /// The empty table (no aid has neighbours).
    fn default() -> Self {
        CovisitTable {
            offsets: vec![0],
            neighbors: Vec::new(),
            weights: Vec::new(),
        }
    }
}

/// Why rows could not form a table.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum TableError {
    #[error("columns of different lengths")]
    LengthMismatch,
    #[error("more than 2^32 rows")]
    TooManyRows,
    #[error("rows are not sorted by aid_x")]
    Unsorted,
    #[error("aid_x {aid_x}: neighbours are not best first (weight descending, then smaller aid_y)")]
    NotBestFirst { aid_x: u32 },
    #[error("aid_x {aid_x}: aid_y {aid_y} appears twice")]
    DuplicatePair { aid_x: u32, aid_y: u32 },
    #[error("aid_x {aid_x}: {rows} neighbours, more than the top {k}")]
    TooManyNeighbors { aid_x: u32, rows: usize, k: usize },
    #[error("aid_x {aid_x}: weight of aid_y {aid_y} is {weight}, not a finite number")]
    BadWeight { aid_x: u32, aid_y: u32, weight: f32 },
    #[error("aid_x {aid_x}: pairs an aid with itself")]
    SelfPair { aid_x: u32 },
}

impl CovisitTable {
    /// Builds a table from rows sorted by aid_x (then by rank). Checks the order.
    pub fn from_rows(aid_x: &[u32], aid_y: &[u32], weight: &[f32]) -> Result<Self, TableError> {
        if aid_x.len() != aid_y.len() || aid_y.len() != weight.len() {
            return Err(TableError::LengthMismatch);
        }
        if aid_x.len() > u32::MAX as usize {
            return Err(TableError::TooManyRows);
        }
        if !aid_x.is_sorted() {
            return Err(TableError::Unsorted);
        }
        let bound = aid_x.last().map_or(0, |&x| x as usize + 1);
        let mut offsets = vec![0u32; bound + 1];
        for &x in aid_x {
            offsets[x as usize + 1] += 1;
        }
        for i in 0..bound {
            offsets[i + 1] += offsets[i];
        }
        Ok(CovisitTable {
            offsets,
            neighbors: aid_y.to_vec(),
            weights: weight.to_vec(),
        })
    }

    /// Builds a table from per-aid rows given in aid order (`rows[x]` = neighbours of x).
    pub fn from_lists(rows: impl IntoIterator<Item = Vec<(u32, f32)>>) -> Self {
        let mut table = CovisitTable::default();
        for row in rows {
            for (y, w) in row {
                table.neighbors.push(y);
                table.weights.push(w);
            }
            table.offsets.push(table.neighbors.len() as u32);
        }
        // Trailing aids without neighbours need no slot, as in `from_rows`.
        while table.offsets.len() > 1
            && table.offsets[table.offsets.len() - 2] == table.neighbors.len() as u32
        {
            table.offsets.pop();
        }
        table
    }

    /// The neighbours of `aid`, best first (empty for an unknown aid).
    pub fn neighbors(&self, aid: u32) -> &[u32] {
        let range = self.range(aid);
        &self.neighbors[range]
    }

    /// The neighbours of `aid` and their weights.
    pub fn row(&self, aid: u32) -> (&[u32], &[f32]) {
        let range = self.range(aid);
        (&self.neighbors[range.clone()], &self.weights[range])
    }

    /// The weight of the pair (x, y), 0 when y is not among x's neighbours.
    pub fn weight(&self, x: u32, y: u32) -> f32 {
        let (ys, ws) = self.row(x);
        ys.iter().position(|&n| n == y).map_or(0.0, |i| ws[i])
    }

    /// Starts loading where `aid`'s row is (its offsets); then
    /// [`prefetch_row`](Self::prefetch_row) can find the row without waiting. At Kaggle
    /// scale a table is hundreds of MB, so each step is otherwise a wait on memory. A hint
    /// only: it changes no value.
    #[inline]
    pub fn prefetch_offsets(&self, aid: u32) {
        if let Some(at) = self.offsets.get(aid as usize) {
            prefetch(at);
        }
    }

    /// Starts loading `aid`'s neighbours and weights (their first and last cache lines:
    /// all of a row of up to 16 entries, or 17 to 32 when the row starts a line).
    #[inline]
    pub fn prefetch_row(&self, aid: u32) {
        let range = self.range(aid);
        if !range.is_empty() {
            prefetch(&self.neighbors[range.start]);
            prefetch(&self.weights[range.start]);
            prefetch(&self.neighbors[range.end - 1]);
            prefetch(&self.weights[range.end - 1]);
        }
    }

    fn range(&self, aid: u32) -> std::ops::Range<usize> {
        let a = aid as usize;
        if a + 1 >= self.offsets.len() {
            return 0..0;
        }
        self.offsets[a] as usize..self.offsets[a + 1] as usize
    }

    /// Number of aid_x slots (one past the largest aid_x with a row).
    pub fn aid_bound(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Number of (aid_x, aid_y) pairs.
    pub fn num_pairs(&self) -> usize {
        self.neighbors.len()
    }

    /// Checks what every table otto-rec builds guarantees: per aid_x at most `k` distinct
    /// neighbours other than itself, finite weights, best first (weight descending, ties by
    /// smaller aid_y). Tables made elsewhere are checked with it before use. Runs over
    /// ranges of aid_x in parallel and reports the problem of the smallest aid_x.
    pub fn check(&self, k: usize) -> Result<(), TableError> {
        const CHUNK: usize = 1 << 16;
        let bound = self.aid_bound();
        (0..bound.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                (c * CHUNK..bound.min((c + 1) * CHUNK))
                    .try_for_each(|x| self.check_row(x as u32, k))
            })
            // The first error in aid order: chunks are reduced left to right.
            .reduce(|| Ok(()), |a, b| a.and(b))
    }

    fn check_row(&self, x: u32, k: usize) -> Result<(), TableError> {
        let (ys, ws) = self.row(x);
        if ys.len() > k {
            return Err(TableError::TooManyNeighbors {
                aid_x: x,
                rows: ys.len(),
                k,
            });
        }
        for (i, (&y, &w)) in ys.iter().zip(ws).enumerate() {
            if !w.is_finite() {
                return Err(TableError::BadWeight {
                    aid_x: x,
                    aid_y: y,
                    weight: w,
                });
            }
            if y == x {
                return Err(TableError::SelfPair { aid_x: x });
            }
            if ys[..i].contains(&y) {
                return Err(TableError::DuplicatePair { aid_x: x, aid_y: y });
            }
            if i > 0 && (ws[i - 1] < w || (ws[i - 1] == w && ys[i - 1] > y)) {
                return Err(TableError::NotBestFirst { aid_x: x });
            }
        }
        Ok(())
    }

    /// All rows as columns (aid_x, aid_y, weight), sorted by aid_x then rank.
    pub fn to_rows(&self) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
        let mut aid_x = Vec::with_capacity(self.num_pairs());
        for x in 0..self.aid_bound() {
            let n = (self.offsets[x + 1] - self.offsets[x]) as usize;
            aid_x.extend(std::iter::repeat_n(x as u32, n));
        }
        (aid_x, self.neighbors.clone(), self.weights.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_unknown_aids_have_no_neighbours() {
        let table = CovisitTable::from_rows(&[1, 1, 3], &[5, 6, 7], &[2.0, 1.0, 4.0]).unwrap();
        assert_eq!(table.row(1), (&[5, 6][..], &[2.0, 1.0][..]));
        assert!(table.neighbors(0).is_empty());
        assert!(table.neighbors(2).is_empty());
        assert!(table.neighbors(99).is_empty());
        assert_eq!(table.weight(3, 7), 4.0);
        assert_eq!(table.weight(3, 8), 0.0);
        let (x, y, w) = table.to_rows();
        assert_eq!(CovisitTable::from_rows(&x, &y, &w).unwrap(), table);
    }

    #[test]
    fn unsorted_rows_are_rejected() {
        assert_eq!(
            CovisitTable::from_rows(&[2, 1], &[5, 6], &[1.0, 1.0]),
            Err(TableError::Unsorted)
        );
    }

    #[test]
    fn the_empty_table_has_no_aids_and_no_pairs() {
        let table = CovisitTable::default();
        assert_eq!(table.aid_bound(), 0);
        assert_eq!(table.num_pairs(), 0);
        assert!(table.neighbors(7).is_empty());
        assert_eq!(table, CovisitTable::from_lists(Vec::new()));
    }

    #[test]
    fn check_finds_each_broken_invariant() {
        let t = |x: &[u32], y: &[u32], w: &[f32]| CovisitTable::from_rows(x, y, w).unwrap();
        assert_eq!(t(&[1, 1], &[2, 3], &[2.0, 2.0]).check(2), Ok(()));
        assert!(matches!(
            t(&[1, 1, 1], &[2, 3, 4], &[3.0, 2.0, 1.0]).check(2),
            Err(TableError::TooManyNeighbors { .. })
        ));
        assert!(matches!(
            t(&[1, 1], &[2, 2], &[2.0, 1.0]).check(5),
            Err(TableError::DuplicatePair { .. })
        ));
        assert!(matches!(
            t(&[1], &[2], &[f32::NAN]).check(5),
            Err(TableError::BadWeight { .. })
        ));
        assert!(matches!(
            t(&[1, 1], &[2, 3], &[1.0, 2.0]).check(5),
            Err(TableError::NotBestFirst { .. })
        ));
        assert!(matches!(
            t(&[1, 1], &[3, 2], &[1.0, 1.0]).check(5),
            Err(TableError::NotBestFirst { .. })
        ));
        assert!(matches!(
            t(&[1], &[1], &[1.0]).check(5),
            Err(TableError::SelfPair { .. })
        ));
    }
}
