//! A co-visitation table in RAM: for each aid_x its neighbours aid_y and weights, best
//! first, in flat arrays indexed by offsets (CSR), so a lookup is two slices.

/// Neighbours per aid, best first (weight descending, then smaller aid_y).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CovisitTable {
    /// `offsets[x]..offsets[x + 1]` index `neighbors` and `weights`; length = aids + 1.
    offsets: Vec<u32>,
    neighbors: Vec<u32>,
    weights: Vec<f32>,
}

/// Why rows could not form a table.
#[derive(Debug, PartialEq)]
pub struct TableError(pub String);

impl CovisitTable {
    /// Builds a table from rows sorted by aid_x (then by rank). Checks the order.
    pub fn from_rows(aid_x: &[u32], aid_y: &[u32], weight: &[f32]) -> Result<Self, TableError> {
        if aid_x.len() != aid_y.len() || aid_y.len() != weight.len() {
            return Err(TableError("columns of different lengths".into()));
        }
        if aid_x.len() > u32::MAX as usize {
            return Err(TableError("more than 2^32 rows".into()));
        }
        if !aid_x.is_sorted() {
            return Err(TableError("rows are not sorted by aid_x".into()));
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
        let mut table = CovisitTable {
            offsets: vec![0],
            ..Default::default()
        };
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
        assert!(CovisitTable::from_rows(&[2, 1], &[5, 6], &[1.0, 1.0]).is_err());
    }
}
