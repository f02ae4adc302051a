//! A synthetic OTTO world (README.md, "`generate`"): sessions that look like OTTO's — the same formats,
//! five weeks of millisecond timestamps, a long-tailed session length (median ~6, mean ~17,
//! at most 500 events), heavy-tailed item popularity and a click/cart/order mix near
//! 90/7.8/2.4 % — with structure a recommender can learn:
//!
//! - items belong to categories and are browsed in sequence (neighbours in a category's
//!   ring are likely next), so co-visitation carries signal;
//! - shoppers revisit recent items, and re-clicked items are more likely to be carted;
//! - each item has a latent appeal that raises its cart rate (item statistics carry signal);
//! - carted items are ordered together at one timestamp, and items have complements that
//!   are carted with them (bought together).
//!
//! The world is the full five weeks passed through the official split ([`crate::split`]),
//! so `train` holds four weeks and `test`/`labels` the fifth. Each session draws from its
//! own seeded stream, so the output is identical for a seed whatever the thread count.

use rayon::prelude::*;

use crate::domain::{DAY, EventType, SessionLabels, SessionLog};
use crate::rng::Rng;
use crate::split::{SplitConfig, split};

/// 2022-07-31 22:00 UTC, the start of OTTO's training period.
pub const START_TS: u32 = 1_659_304_800;
/// Days simulated: four weeks of train and one of test, as in the competition.
pub const DAYS: u32 = 35;
/// Longest session, as in OTTO.
pub const MAX_SESSION_EVENTS: usize = 500;

/// Session length: log-normal with median 6 and σ chosen so the mean lands near 17.
const LENGTH_MEDIAN: f64 = 6.0;
const LENGTH_SIGMA: f64 = 1.45;
/// Item popularity by rank r: 1 / (r + OFFSET)^EXPONENT.
const POPULARITY_OFFSET: f64 = 100.0;
const POPULARITY_EXPONENT: f64 = 0.9;
/// Items per category.
const CATEGORY_SIZE: usize = 50;
/// Probabilities of the browsing process, per step.
const P_REVISIT: f64 = 0.28;
const P_SWITCH_CATEGORY: f64 = 0.10;
const P_SEQUENCE_STEP: f64 = 0.55;
const P_CART_FIRST_VIEW: f64 = 0.034;
const P_CART_REVISIT: f64 = 0.11;
const P_COMPLEMENT: f64 = 0.30;
const P_CHECKOUT_STEP: f64 = 0.015;
const P_CHECKOUT_AT_END: f64 = 0.25;
const P_ORDER_CARTED: f64 = 0.6;
/// Gaps between events: log-normal with this median (seconds), sometimes a long pause.
const GAP_MEDIAN_SECONDS: f64 = 20.0;
const GAP_SIGMA: f64 = 1.2;
const P_LONG_PAUSE: f64 = 0.02;
const LONG_PAUSE_MEAN_SECONDS: f64 = DAY as f64;

/// Size and seed of a world.
#[derive(Clone, Copy, Debug)]
pub struct WorldConfig {
    pub sessions: usize,
    pub items: usize,
    pub seed: u64,
}

/// A world size outside its valid range.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WorldError {
    #[error("sessions must be at least 1")]
    NoSessions,
    #[error("items must be between 10 and 2^32-1")]
    Items,
}

impl WorldConfig {
    /// Checks the sizes.
    pub fn validate(&self) -> Result<(), WorldError> {
        if self.sessions == 0 {
            return Err(WorldError::NoSessions);
        }
        if self.items < 10 || self.items > u32::MAX as usize {
            return Err(WorldError::Items);
        }
        Ok(())
    }
}

/// A generated world, split like the competition data.
pub struct World {
    pub train: SessionLog,
    pub test: SessionLog,
    pub labels: Vec<SessionLabels>,
}

/// The item catalogue: categories with popularity-weighted items and per-item traits.
struct Catalog {
    /// Item aids grouped by category, in each category's browsing order (a ring).
    category_items: Vec<u32>,
    category_offsets: Vec<usize>,
    /// Cumulative popularity within each category (aligned with `category_items`).
    category_item_cdf: Vec<f64>,
    /// Cumulative popularity of the categories.
    category_cdf: Vec<f64>,
    /// Per aid: its category and its position in `category_items`.
    category_of: Vec<u32>,
    position_of: Vec<u32>,
    /// Per aid: how appealing it is to cart (multiplies the cart probability).
    appeal: Vec<f32>,
    /// Per aid: an item often carted with it.
    complement: Vec<u32>,
}

fn sample_cdf(cdf: &[f64], rng: &mut Rng) -> usize {
    let total = *cdf.last().expect("non-empty cdf");
    let x = rng.next_f64() * total;
    cdf.partition_point(|&c| c <= x).min(cdf.len() - 1)
}

impl Catalog {
    fn new(items: usize, rng: &mut Rng) -> Self {
        let categories = items.div_ceil(CATEGORY_SIZE).max(1);
        // Popularity rank -> aid through a random permutation, so ids carry no signal.
        let mut aid_of_rank: Vec<u32> = (0..items as u32).collect();
        for i in (1..items).rev() {
            aid_of_rank.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let weight_of_rank =
            |r: usize| 1.0 / (r as f64 + POPULARITY_OFFSET).powf(POPULARITY_EXPONENT);
        let mut members: Vec<Vec<(u32, f64)>> = vec![Vec::new(); categories];
        for (rank, &aid) in aid_of_rank.iter().enumerate() {
            members[rng.below(categories as u64) as usize].push((aid, weight_of_rank(rank)));
        }
        let mut catalog = Catalog {
            category_items: Vec::with_capacity(items),
            category_offsets: vec![0],
            category_item_cdf: Vec::with_capacity(items),
            category_cdf: Vec::with_capacity(categories),
            category_of: vec![0; items],
            position_of: vec![0; items],
            appeal: (0..items)
                .map(|_| (0.3 + 1.4 * rng.next_f64()) as f32)
                .collect(),
            complement: vec![0; items],
        };
        let mut total = 0.0;
        for (c, list) in members.iter_mut().enumerate() {
            if list.is_empty() {
                list.push((aid_of_rank[rng.below(items as u64) as usize], 1e-12));
            }
            let mut cumulative = 0.0;
            for &(aid, w) in list.iter() {
                cumulative += w;
                catalog.category_of[aid as usize] = c as u32;
                catalog.position_of[aid as usize] = catalog.category_items.len() as u32;
                catalog.category_items.push(aid);
                catalog.category_item_cdf.push(cumulative);
            }
            total += cumulative;
            catalog.category_cdf.push(total);
            catalog.category_offsets.push(catalog.category_items.len());
        }
        for aid in 0..items {
            // The complement lives in the "next" category, at a fixed pseudo-random place.
            let c = (catalog.category_of[aid] as usize + 1) % categories;
            let range = catalog.category_offsets[c]..catalog.category_offsets[c + 1];
            let pick = range.start + (aid * 7919 + 13) % range.len();
            catalog.complement[aid] = catalog.category_items[pick];
        }
        catalog
    }

    fn categories(&self) -> usize {
        self.category_cdf.len()
    }

    fn category_range(&self, c: usize) -> std::ops::Range<usize> {
        self.category_offsets[c]..self.category_offsets[c + 1]
    }

    fn popular_in(&self, c: usize, rng: &mut Rng) -> u32 {
        let range = self.category_range(c);
        let base = if range.start == 0 {
            0.0
        } else {
            self.category_item_cdf[range.start - 1]
        };
        let cdf = &self.category_item_cdf[range.clone()];
        let x = base + rng.next_f64() * (cdf[cdf.len() - 1] - base);
        let i = cdf.partition_point(|&v| v <= x).min(cdf.len() - 1);
        self.category_items[range.start + i]
    }

    /// An item a few steps along the category's ring from `aid`.
    fn next_in_sequence(&self, aid: u32, rng: &mut Rng) -> u32 {
        let c = self.category_of[aid as usize] as usize;
        let range = self.category_range(c);
        let len = range.len();
        let pos = self.position_of[aid as usize] as usize - range.start;
        let step = 1 + rng.below(3) as usize;
        self.category_items[range.start + (pos + step) % len]
    }
}

/// The start time of a session: a uniform day and a time of day that peaks in the evening.
fn session_start(rng: &mut Rng) -> u32 {
    let day = rng.below(DAYS as u64) as u32;
    loop {
        let second = rng.below(DAY as u64) as u32;
        let hour = second as f64 / 3600.0;
        let weight = 0.3 + 0.7 * (0.5 - 0.5 * (std::f64::consts::TAU * (hour - 4.0) / 24.0).cos());
        if rng.chance(weight) {
            return START_TS + day * DAY + second;
        }
    }
}

struct SessionBuilder {
    aids: Vec<u32>,
    ts: Vec<u32>,
    types: Vec<EventType>,
}

impl SessionBuilder {
    fn push(&mut self, aid: u32, ts: u32, kind: EventType) {
        self.aids.push(aid);
        self.ts.push(ts);
        self.types.push(kind);
    }

    fn checkout(&mut self, cart: &mut Vec<u32>, ts: u32, rng: &mut Rng) {
        let mut ordered = false;
        for i in 0..cart.len() {
            if rng.chance(P_ORDER_CARTED) || (!ordered && i + 1 == cart.len()) {
                self.push(cart[i], ts, EventType::Order);
                ordered = true;
            }
        }
        cart.clear();
    }
}

fn simulate_session(catalog: &Catalog, start: u32, rng: &mut Rng, out: &mut SessionBuilder) {
    out.aids.clear();
    out.ts.clear();
    out.types.clear();
    let end = START_TS + DAYS * DAY;
    let length = (LENGTH_MEDIAN * (LENGTH_SIGMA * rng.normal()).exp()).round() as usize;
    let length = length.clamp(2, MAX_SESSION_EVENTS);
    let mut category = sample_cdf(&catalog.category_cdf, rng);
    let mut now = start;
    let mut cart: Vec<u32> = Vec::new();
    while out.aids.len() < length {
        if !out.aids.is_empty() {
            let gap = if rng.chance(P_LONG_PAUSE) {
                rng.exponential(LONG_PAUSE_MEAN_SECONDS)
            } else {
                GAP_MEDIAN_SECONDS * (GAP_SIGMA * rng.normal()).exp()
            };
            now = now.saturating_add(gap.round() as u32 + 1);
            if now >= end {
                break;
            }
        }
        if !cart.is_empty() && rng.chance(P_CHECKOUT_STEP) {
            out.checkout(&mut cart, now, rng);
            continue;
        }
        let last = out.aids.last().copied();
        let (aid, revisit) = match last {
            Some(_) if rng.chance(P_REVISIT) => {
                let back = 1 + rng.below(out.aids.len().min(6) as u64) as usize;
                (out.aids[out.aids.len() - back], true)
            }
            _ if rng.chance(P_SWITCH_CATEGORY) => {
                category = if rng.chance(0.6) {
                    (category + 1) % catalog.categories()
                } else {
                    sample_cdf(&catalog.category_cdf, rng)
                };
                (catalog.popular_in(category, rng), false)
            }
            Some(prev) if rng.chance(P_SEQUENCE_STEP) => {
                (catalog.next_in_sequence(prev, rng), false)
            }
            _ => (catalog.popular_in(category, rng), false),
        };
        category = catalog.category_of[aid as usize] as usize;
        let seen_before = revisit || out.aids.contains(&aid);
        out.push(aid, now, EventType::Click);
        let p_cart = if seen_before {
            P_CART_REVISIT
        } else {
            P_CART_FIRST_VIEW
        };
        if rng.chance(p_cart * catalog.appeal[aid as usize] as f64) && out.aids.len() < length {
            now += 1 + rng.below(30) as u32;
            out.push(aid, now, EventType::Cart);
            cart.push(aid);
            let partner = catalog.complement[aid as usize];
            if rng.chance(P_COMPLEMENT) && out.aids.len() + 1 < length {
                now += 5 + rng.below(60) as u32;
                out.push(partner, now, EventType::Click);
                out.push(partner, now + 2, EventType::Cart);
                now += 2;
                cart.push(partner);
            }
        }
    }
    if !cart.is_empty() && now < end && rng.chance(P_CHECKOUT_AT_END) {
        out.checkout(&mut cart, now + 30, rng);
    }
    out.aids.truncate(MAX_SESSION_EVENTS);
    out.ts.truncate(MAX_SESSION_EVENTS);
    out.types.truncate(MAX_SESSION_EVENTS);
}

/// The category of every aid of the world `config` simulates (the catalogue is drawn
/// first from the seed, so this is the same catalogue [`simulate`] uses).
pub fn categories(config: WorldConfig) -> Vec<u32> {
    let mut rng = Rng::new(config.seed);
    Catalog::new(config.items, &mut rng).category_of
}

/// Simulates five weeks of sessions, ordered by start time, ids 0..n.
pub fn simulate(config: WorldConfig) -> SessionLog {
    let mut rng = Rng::new(config.seed);
    let catalog = Catalog::new(config.items, &mut rng);
    let mut starts: Vec<u32> = (0..config.sessions)
        .map(|_| session_start(&mut rng))
        .collect();
    starts.sort_unstable();
    const CHUNK: usize = 16_384;
    let parts: Vec<SessionLog> = starts
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(chunk, starts)| {
            let mut log = SessionLog::new();
            let mut builder = SessionBuilder {
                aids: Vec::new(),
                ts: Vec::new(),
                types: Vec::new(),
            };
            for (j, &start) in starts.iter().enumerate() {
                let id = (chunk * CHUNK + j) as u32;
                let mut session_rng = Rng::for_stream(config.seed, id as u64);
                simulate_session(&catalog, start, &mut session_rng, &mut builder);
                if builder.aids.len() >= 2 {
                    log.push_session(id, &builder.aids, &builder.ts, &builder.types);
                }
            }
            log
        })
        .collect();
    let mut log = SessionLog::new();
    for part in &parts {
        log.append(part);
    }
    log
}

/// Generates a world: five simulated weeks through the official split (last 7 days test).
pub fn generate(config: WorldConfig) -> Result<World, WorldError> {
    config.validate()?;
    let full = simulate(config);
    let split = split(
        &full,
        SplitConfig {
            days: 7,
            seed: config.seed,
        },
    );
    Ok(World {
        train: split.train,
        test: split.test,
        labels: split.labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_identical_worlds_and_different_seeds_differ() {
        let config = WorldConfig {
            sessions: 2_000,
            items: 2_000,
            seed: 3,
        };
        let a = simulate(config);
        let b = simulate(config);
        assert_eq!(a, b);
        let c = simulate(WorldConfig { seed: 4, ..config });
        assert_ne!(a, c);
    }

    #[test]
    fn statistics_land_near_otto() {
        let log = simulate(WorldConfig {
            sessions: 40_000,
            items: 20_000,
            seed: 11,
        });
        let mut lengths: Vec<usize> = log.offsets.windows(2).map(|w| w[1] - w[0]).collect();
        lengths.sort_unstable();
        let median = lengths[lengths.len() / 2];
        let mean = log.num_events() as f64 / log.len() as f64;
        assert!((4..=8).contains(&median), "median session length {median}");
        assert!((12.0..=22.0).contains(&mean), "mean session length {mean}");
        assert!(*lengths.last().unwrap() <= MAX_SESSION_EVENTS);
        assert!(
            *lengths.last().unwrap() >= 200,
            "long tail {}",
            lengths.last().unwrap()
        );

        let counts = log.type_counts();
        let total = log.num_events() as f64;
        let share = |i: usize| counts[i] as f64 / total;
        assert!((0.87..=0.93).contains(&share(0)), "clicks {}", share(0));
        assert!((0.06..=0.10).contains(&share(1)), "carts {}", share(1));
        assert!((0.015..=0.035).contains(&share(2)), "orders {}", share(2));

        // Heavy-tailed popularity: the busiest item has far more events than the median one.
        let mut per_item = vec![0u32; log.aid_bound()];
        for &a in &log.aids {
            per_item[a as usize] += 1;
        }
        per_item.retain(|&c| c > 0);
        per_item.sort_unstable();
        let item_median = per_item[per_item.len() / 2] as f64;
        let item_max = *per_item.last().unwrap() as f64;
        assert!(
            item_max / item_median > 50.0,
            "max {item_max} median {item_median}"
        );
        let (lo, hi) = log.ts_range().unwrap();
        assert!(lo >= START_TS && hi < START_TS + DAYS * DAY);
    }

    #[test]
    fn generated_test_sessions_hold_only_train_items() {
        let world = generate(WorldConfig {
            sessions: 3_000,
            items: 3_000,
            seed: 5,
        })
        .unwrap();
        assert!(!world.test.is_empty());
        assert_eq!(world.test.len(), world.labels.len());
        let mut in_train = vec![false; world.train.aid_bound().max(world.test.aid_bound())];
        for &a in &world.train.aids {
            in_train[a as usize] = true;
        }
        assert!(world.test.aids.iter().all(|&a| in_train[a as usize]));
    }
}
