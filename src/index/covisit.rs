//! The co-visitation counting kernel.
//!
//! For each session: take its `tail` most recent events (after the event filter), form all
//! ordered pairs (x, y) with different aids less than `window` apart (y among the events
//! the spec's `y_events` accepts, and after x for a forward table), and keep each pair
//! once, with the ts of x and the type of y of its most recent occurrence (most recent x,
//! then most recent y). Sum the weights over sessions and keep the `top_k` aid_y per aid_x
//! (weight descending, ties by smaller aid_y).
//!
//! Memory stays bounded by processing aid_x in ranges ("passes") sized from an upper bound
//! of the pairs each aid_x can produce, so at most `pairs_per_pass` pair instances are held
//! at once. Within a pass, sessions are expanded in parallel chunks, the instances are
//! bucketed by aid_x (a counting sort, keeping session order), and each aid_x's bucket is
//! reduced and cut to top-K in parallel. Weights are summed in session order, so the result
//! is exactly that of a plain loop over sessions.

use rayon::prelude::*;

use super::table::CovisitTable;
use super::{CovisitSpec, Direction, EventFilter, Weighting};
use crate::domain::{EVENT_TYPE_WEIGHTS, EventType, Session, SessionLog};
use crate::progress::Progress;

/// Sessions per parallel chunk.
const SESSION_CHUNK: usize = 4096;
/// aid_x per parallel reduce chunk.
const AID_CHUNK: usize = 2048;

/// The positions (ascending) of the events a spec considers: the last `tail` after the
/// filter.
pub fn tail_positions(session: Session<'_>, events: EventFilter, tail: usize, out: &mut Vec<u32>) {
    out.clear();
    for i in (0..session.len()).rev() {
        if out.len() == tail {
            break;
        }
        if events.accepts(session.types[i]) {
            out.push(i as u32);
        }
    }
    out.reverse();
}

/// What the weight of a pair occurrence depends on.
#[derive(Clone, Copy, Debug)]
pub struct Occurrence {
    pub ts_x: u32,
    pub type_y: EventType,
    /// Positions of x and y in the session.
    pub pos_x: u32,
    pub pos_y: u32,
}

/// The weight of a kept pair occurrence under `weighting`.
pub fn pair_weight(weighting: Weighting, o: Occurrence, ts_range: (u32, u32)) -> f32 {
    let Occurrence {
        ts_x,
        type_y,
        pos_x,
        pos_y,
    } = o;
    match weighting {
        Weighting::Time => {
            let (lo, hi) = ts_range;
            if hi > lo {
                (1.0 + 3.0 * (ts_x - lo) as f64 / (hi - lo) as f64) as f32
            } else {
                1.0
            }
        }
        Weighting::Type => EVENT_TYPE_WEIGHTS[type_y.index()],
        Weighting::Unit => 1.0,
        Weighting::Proximity => 1.0 / pos_x.abs_diff(pos_y).max(1) as f32,
    }
}

/// Which pairs of a tail a group of specs forms.
#[derive(Clone, Copy, Debug)]
struct PairRule {
    window: u32,
    y_events: EventFilter,
    direction: Direction,
}

/// A session's distinct pairs with aid_x in `xs`, most recent occurrence of each:
/// (aid_x << 32 | aid_y, pos_x, pos_y). Positions whose aid is outside `xs` are skipped
/// before any pair is formed, so a pass costs little for the sessions it does not need.
fn session_pairs(
    session: Session<'_>,
    positions: &[u32],
    rule: PairRule,
    xs: std::ops::Range<u32>,
    scratch: &mut Vec<(u64, u32, u32)>,
) {
    scratch.clear();
    for &i in positions.iter().rev() {
        let (ax, tx) = (session.aids[i as usize], session.ts[i as usize]);
        if !xs.contains(&ax) {
            continue;
        }
        for &j in positions.iter().rev() {
            if rule.direction == Direction::Forward && j <= i {
                break;
            }
            let (ay, ty) = (session.aids[j as usize], session.ts[j as usize]);
            if ax != ay
                && tx.abs_diff(ty) < rule.window
                && rule.y_events.accepts(session.types[j as usize])
            {
                scratch.push((((ax as u64) << 32) | ay as u64, i, j));
            }
        }
    }
    // Stable: of equal pairs, the first generated (the most recent occurrence) is kept.
    scratch.sort_by_key(|p| p.0);
    scratch.dedup_by_key(|p| p.0);
}

/// One aid_x's neighbours and weights, best first.
type Row = Vec<(u32, f32)>;

/// Pair instances of one chunk of sessions for one pass: aid_x, aid_y and one weight per spec.
#[derive(Default)]
struct Instances {
    x: Vec<u32>,
    y: Vec<u32>,
    w: Vec<Vec<f32>>,
}

/// Counts the tables of `specs`, which must form the same pairs (share `events`, `tail`,
/// `window_seconds`, `y_events` and `direction`).
pub fn count(
    log: &SessionLog,
    specs: &[CovisitSpec],
    pairs_per_pass: usize,
    progress: &dyn Progress,
) -> Vec<CovisitTable> {
    assert!(!specs.is_empty());
    let (events, tail) = (specs[0].events, specs[0].tail);
    let rule = PairRule {
        window: specs[0].window_seconds,
        y_events: specs[0].y_events,
        direction: specs[0].direction,
    };
    assert!(specs.iter().all(|s| s.shares_pairs_with(&specs[0])));
    let ts_range = log.ts_range().unwrap_or((0, 0));
    let aid_bound = log.aid_bound();

    // Upper bound of the instances per aid_x: each event in a tail of m pairs with m - 1 others.
    let bounds: Vec<u64> = log
        .session_ids
        .par_chunks(SESSION_CHUNK)
        .enumerate()
        .fold(
            || vec![0u64; aid_bound],
            |mut acc, (c, ids)| {
                let mut positions = Vec::new();
                for k in 0..ids.len() {
                    let session = log.session(c * SESSION_CHUNK + k);
                    tail_positions(session, events, tail, &mut positions);
                    let m = positions.len() as u64;
                    for &p in &positions {
                        acc[session.aids[p as usize] as usize] += m.saturating_sub(1);
                    }
                }
                acc
            },
        )
        .reduce(
            || vec![0u64; aid_bound],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );

    let mut passes = Vec::new();
    let (mut start, mut held) = (0usize, 0u64);
    for (x, &b) in bounds.iter().enumerate() {
        if held + b > pairs_per_pass as u64 && x > start {
            passes.push(start..x);
            start = x;
            held = 0;
        }
        held += b;
    }
    passes.push(start..aid_bound);
    progress.set_total(log.len() as u64 * passes.len() as u64);

    let mut rows: Vec<Vec<Vec<(u32, f32)>>> = vec![Vec::with_capacity(aid_bound); specs.len()];
    for pass in passes {
        let lo = pass.start as u32;
        let hi = pass.end as u32;
        let chunks: Vec<Instances> = log
            .session_ids
            .par_chunks(SESSION_CHUNK)
            .enumerate()
            .map(|(c, ids)| {
                let mut out = Instances {
                    w: vec![Vec::new(); specs.len()],
                    ..Default::default()
                };
                let (mut positions, mut pairs) = (Vec::new(), Vec::new());
                for k in 0..ids.len() {
                    let session = log.session(c * SESSION_CHUNK + k);
                    tail_positions(session, events, tail, &mut positions);
                    session_pairs(session, &positions, rule, lo..hi, &mut pairs);
                    for &(key, i, j) in &pairs {
                        out.x.push((key >> 32) as u32);
                        out.y.push(key as u32);
                        let occurrence = Occurrence {
                            ts_x: session.ts[i as usize],
                            type_y: session.types[j as usize],
                            pos_x: i,
                            pos_y: j,
                        };
                        for (s, spec) in specs.iter().enumerate() {
                            out.w[s].push(pair_weight(spec.weighting, occurrence, ts_range));
                        }
                    }
                }
                progress.advance(ids.len() as u64);
                out
            })
            .collect();

        // Bucket by aid_x, keeping chunk (= session) order.
        let width = (hi - lo) as usize;
        let mut offsets = vec![0usize; width + 1];
        for chunk in &chunks {
            for &x in &chunk.x {
                offsets[(x - lo) as usize + 1] += 1;
            }
        }
        for i in 0..width {
            offsets[i + 1] += offsets[i];
        }
        let total = offsets[width];
        let mut ys = vec![0u32; total];
        let mut ws = vec![vec![0f32; total]; specs.len()];
        let mut cursor = offsets.clone();
        for chunk in chunks {
            for (n, &x) in chunk.x.iter().enumerate() {
                let slot = &mut cursor[(x - lo) as usize];
                ys[*slot] = chunk.y[n];
                for (w, from) in ws.iter_mut().zip(&chunk.w) {
                    w[*slot] = from[n];
                }
                *slot += 1;
            }
        }

        // Reduce each aid_x's bucket and keep its top K per spec.
        let reduced: Vec<Vec<Vec<Row>>> = (0..width)
            .collect::<Vec<_>>()
            .par_chunks(AID_CHUNK)
            .map(|xs| {
                let mut out = vec![Vec::with_capacity(xs.len()); specs.len()];
                let mut order: Vec<u32> = Vec::new();
                let mut sums: Vec<f64> = Vec::new();
                let mut distinct: Vec<u32> = Vec::new();
                for &x in xs {
                    let range = offsets[x]..offsets[x + 1];
                    order.clear();
                    order.extend(range.clone().map(|i| i as u32));
                    order.sort_by_key(|&i| ys[i as usize]);
                    distinct.clear();
                    for &i in &order {
                        if distinct.last() != Some(&ys[i as usize]) {
                            distinct.push(ys[i as usize]);
                        }
                    }
                    for (s, spec) in specs.iter().enumerate() {
                        sums.clear();
                        let mut last = None;
                        for &i in &order {
                            let y = ys[i as usize];
                            if last != Some(y) {
                                sums.push(0.0);
                                last = Some(y);
                            }
                            *sums.last_mut().expect("pushed") += ws[s][i as usize] as f64;
                        }
                        let mut row: Vec<(u32, f32)> = distinct
                            .iter()
                            .zip(&sums)
                            .map(|(&y, &w)| (y, w as f32))
                            .collect();
                        top_k(&mut row, spec.top_k);
                        out[s].push(row);
                    }
                }
                out
            })
            .collect();
        for chunk in reduced {
            for (s, lists) in chunk.into_iter().enumerate() {
                rows[s].extend(lists);
            }
        }
    }
    rows.into_iter().map(CovisitTable::from_lists).collect()
}

/// Keeps the `k` best (weight descending, then smaller aid), best first.
pub fn top_k(row: &mut Vec<(u32, f32)>, k: usize) {
    let better = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if row.len() > k && k > 0 {
        row.select_nth_unstable_by(k - 1, better);
    }
    row.truncate(k);
    row.sort_unstable_by(better);
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::domain::EventType::{Cart, Click, Order};
    use crate::index::IndexParams;
    use crate::progress::Silent;
    use crate::rng::Rng;

    /// The definition, written out plainly: a newest-first list of the tail, all pairs,
    /// keep the first of each, sum, sort, cut.
    fn brute_force(log: &SessionLog, spec: &CovisitSpec) -> Vec<Vec<(u32, f32)>> {
        let ts_range = log.ts_range().unwrap_or((0, 0));
        let mut sums: HashMap<(u32, u32), f64> = HashMap::new();
        let mut order: Vec<(u32, u32)> = Vec::new();
        for session in log.iter() {
            let mut newest_first: Vec<usize> = (0..session.len())
                .rev()
                .filter(|&i| spec.events == EventFilter::All || session.types[i] != Click)
                .collect();
            newest_first.truncate(spec.tail);
            let mut seen = Vec::new();
            for &i in &newest_first {
                for &j in &newest_first {
                    let (x, y) = (session.aids[i], session.aids[j]);
                    let close = (session.ts[i] as i64 - session.ts[j] as i64).abs()
                        < spec.window_seconds as i64;
                    let y_ok = spec.y_events == EventFilter::All || session.types[j] != Click;
                    let order_ok = spec.direction == Direction::Both || j > i;
                    if x != y && close && y_ok && order_ok && !seen.contains(&(x, y)) {
                        seen.push((x, y));
                        let occurrence = Occurrence {
                            ts_x: session.ts[i],
                            type_y: session.types[j],
                            pos_x: i as u32,
                            pos_y: j as u32,
                        };
                        let w = pair_weight(spec.weighting, occurrence, ts_range);
                        if !sums.contains_key(&(x, y)) {
                            order.push((x, y));
                        }
                        *sums.entry((x, y)).or_default() += w as f64;
                    }
                }
            }
        }
        let mut rows = vec![Vec::new(); log.aid_bound()];
        for (x, y) in order {
            rows[x as usize].push((y, sums[&(x, y)] as f32));
        }
        for row in &mut rows {
            row.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            row.truncate(spec.top_k);
        }
        rows
    }

    fn assert_same(table: &CovisitTable, expected: &[Vec<(u32, f32)>]) {
        for (x, row) in expected.iter().enumerate() {
            let (ys, ws) = table.row(x as u32);
            let got: Vec<(u32, f32)> = ys.iter().copied().zip(ws.iter().copied()).collect();
            assert_eq!(&got, row, "aid_x {x}");
        }
        assert_eq!(
            table.num_pairs(),
            expected.iter().map(Vec::len).sum::<usize>()
        );
    }

    fn random_log(rng: &mut Rng) -> SessionLog {
        let mut log = SessionLog::new();
        let items = 2 + rng.below(15) as u32;
        for id in 0..(1 + rng.below(30)) as u32 {
            let n = 1 + rng.below(45) as usize;
            let mut t = 1_000_000 + rng.below(100_000) as u32;
            let (mut aids, mut ts, mut types) = (vec![], vec![], vec![]);
            for _ in 0..n {
                t += [0, 1, 3_600, 50_000, 200_000][rng.below(5) as usize];
                aids.push(rng.below(items as u64) as u32);
                ts.push(t);
                types.push([Click, Click, Click, Cart, Order][rng.below(5) as usize]);
            }
            log.push_session(id, &aids, &ts, &types);
        }
        log
    }

    #[test]
    fn kernel_equals_brute_force_on_random_worlds() {
        let params = IndexParams::default();
        let mut rng = Rng::new(2024);
        for round in 0..200 {
            let log = random_log(&mut rng);
            // Small passes on odd rounds, to exercise the partitioning.
            let budget = if round % 2 == 0 {
                usize::MAX
            } else {
                1 + rng.below(200) as usize
            };
            let shared = [params.tables[0], params.tables[1]];
            let tables = count(&log, &shared, budget, &Silent);
            assert_same(&tables[0], &brute_force(&log, &shared[0]));
            assert_same(&tables[1], &brute_force(&log, &shared[1]));
            let buys = count(&log, &[params.tables[2]], budget, &Silent);
            assert_same(&buys[0], &brute_force(&log, &params.tables[2]));
            for spec in &params.tables[3..] {
                let table = count(&log, &[*spec], budget, &Silent);
                assert_same(&table[0], &brute_force(&log, spec));
            }
        }
    }

    /// Three sessions, computed by hand. ts_min = 0 (session 1), ts_max = 100_000
    /// (session 3), so the time weight is 1 + 3·ts_x/100_000.
    #[test]
    fn hand_computed_tables() {
        let mut log = SessionLog::new();
        // Session 1: 1 -> 2 -> 1 within the day; (1,2) occurs twice: its most recent x is
        // the second 1 (ts 20); (2,1) once with x = 2 at ts 10. 3 at ts 86_420 is 86_400 s
        // after the 1 at ts 20 (outside the window: < 24 h is strict) but 86_410 after 2.
        log.push_session(
            1,
            &[1, 2, 1, 3],
            &[0, 10, 20, 86_420],
            &[Click, Cart, Click, Order],
        );
        // Session 2: 35 events; only the last 30 count, so the leading 7s never pair.
        let mut aids = vec![7; 5];
        aids.extend([4, 5].repeat(15));
        let ts: Vec<u32> = (0..35).map(|i| 50_000 + i).collect();
        log.push_session(2, &aids, &ts, &[Click; 35]);
        // Session 3: 4 and 6 co-visited: makes 6 tie with 5 as a neighbour of 4 in buy2buy.
        log.push_session(3, &[4, 6], &[99_999, 100_000], &[Cart, Order]);

        let params = IndexParams::default();
        let time = count(&log, &params.tables[..1], usize::MAX, &Silent).remove(0);
        let w = |ts: u32| (1.0 + 3.0 * ts as f64 / 100_000.0) as f32;
        assert_eq!(time.row(1), (&[2][..], &[w(20)][..]));
        assert_eq!(time.row(2), (&[1][..], &[w(10)][..]));
        assert!(
            time.neighbors(3).is_empty(),
            "3 is outside every window but 2's"
        );
        // 4 and 5 alternate; the most recent 4 is at ts 50_033 (position 33). Session 3's
        // (4,6), at ts 99_999, weighs more.
        assert_eq!(time.row(4), (&[6, 5][..], &[w(99_999), w(50_033)][..]));
        assert!(
            time.neighbors(7).is_empty(),
            "7 is not in the last 30 events"
        );

        let typed = count(&log, &params.tables[1..2], usize::MAX, &Silent).remove(0);
        // (1,2): most recent y = 2, a cart: 6. (2,1): y = 1 clicked: 1.
        assert_eq!(typed.row(1), (&[2][..], &[6.0][..]));
        assert_eq!(typed.row(2), (&[1][..], &[1.0][..]));
        // Session 2 gives (4,5) weight 1; session 3 gives (4,6) weight 3 (y ordered).
        assert_eq!(typed.row(4), (&[6, 5][..], &[3.0, 1.0][..]));

        let buys = count(&log, &params.tables[2..3], usize::MAX, &Silent).remove(0);
        // Buys only: session 1 has a cart of 2 and an order of 3, 86_410 s apart: < 14 days.
        assert_eq!(buys.row(2), (&[3][..], &[1.0][..]));
        assert_eq!(buys.row(3), (&[2][..], &[1.0][..]));
        assert_eq!(buys.row(4), (&[6][..], &[1.0][..]));
    }

    /// The two forward tables on one session, by hand: 1 (click), 2 (click), 3 (cart),
    /// 1 (click, 2 h later), 4 (order).
    #[test]
    fn forward_tables_by_hand() {
        let mut log = SessionLog::new();
        log.push_session(
            1,
            &[1, 2, 3, 1, 4],
            &[0, 10, 20, 7_220, 7_230],
            &[Click, Click, Cart, Click, Order],
        );
        let params = IndexParams::default();
        let to_buy = count(&log, &params.tables[3..4], usize::MAX, &Silent).remove(0);
        // y must be a later cart or order: 3 (cart, type weight 6) and 4 (order, 3).
        // (1, 4): the most recent 1 is at position 3, before the order.
        assert_eq!(to_buy.row(1), (&[3, 4][..], &[6.0, 3.0][..]));
        assert_eq!(to_buy.row(2), (&[3, 4][..], &[6.0, 3.0][..]));
        assert_eq!(to_buy.row(3), (&[4][..], &[3.0][..]));
        assert!(
            to_buy.neighbors(4).is_empty(),
            "nothing is bought after the last event"
        );
        let next = count(&log, &params.tables[4..5], usize::MAX, &Silent).remove(0);
        // Within an hour and later: 1 -> 2 (distance 1), 1 -> 3 (2), 2 -> 3 (1); the second
        // 1 is two hours later, so only 1 (second) -> 4 (distance 1) pairs with it. The
        // pair (1, 4) keeps its most recent x: position 3, distance 1.
        assert_eq!(next.row(1), (&[2, 4, 3][..], &[1.0, 1.0, 0.5][..]));
        assert_eq!(next.row(2), (&[3][..], &[1.0][..]));
        assert!(
            next.neighbors(3).is_empty(),
            "3 is two hours before the next event"
        );
    }

    /// Positions are not truncated for sessions longer than 65,535 events: the tail of a
    /// 70,000-event session pairs its own last events.
    #[test]
    fn a_session_longer_than_u16_positions_is_counted_at_its_tail() {
        let n = 70_000u32;
        let aids: Vec<u32> = (0..n).map(|i| i % 1_000).collect();
        let ts: Vec<u32> = (0..n).map(|i| 1_000_000 + i).collect();
        let mut log = SessionLog::new();
        log.push_session(1, &aids, &ts, &vec![Click; n as usize]);
        let spec = CovisitSpec {
            tail: 2,
            ..IndexParams::default().tables[1]
        };
        let table = count(&log, &[spec], usize::MAX, &Silent).remove(0);
        // The last two events are aids 998 and 999.
        assert_eq!(table.num_pairs(), 2);
        assert_eq!(table.neighbors(998), &[999]);
        assert_eq!(table.neighbors(999), &[998]);
    }

    #[test]
    fn weight_ties_break_by_smaller_aid() {
        let mut row = vec![(9, 1.0), (3, 2.0), (5, 1.0), (1, 1.0)];
        top_k(&mut row, 3);
        assert_eq!(row, vec![(3, 2.0), (1, 1.0), (5, 1.0)]);
    }
}
