//! Property tests over everything a client controls: the request parser on arbitrary bytes
//! and on arbitrary well-formed bodies, and the whole recommender (the bundled model, with
//! its rankers and embeddings) on arbitrary sessions of 0–600 events. Never a panic; every
//! answer has at most `k` unique items with finite scores, best first.

use std::sync::OnceLock;

use otto_rec::bundle::Bundle;
use otto_rec::domain::{EventType, OwnedSession, Timestamp};
use otto_rec::http::api::{PredictRequest, ValidRequest};
use otto_rec::pipeline::{Recommender, Strategy as Ranking};
use proptest::prelude::*;

fn recommender() -> &'static Recommender {
    static MODEL: OnceLock<Recommender> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default");
        let bundle = Bundle::open(&dir).expect("models/default opens");
        assert!(bundle.has_rankers(), "models/default carries rankers");
        bundle.into_recommender()
    })
}

/// Items the bundled model knows (one past its largest aid).
fn aid_bound() -> u32 {
    recommender().index().stats.aid_bound() as u32
}

/// An aid: mostly one the model knows (so candidates, features and the rankers run), some
/// anywhere in u32, a few at its very top.
fn aid() -> impl Strategy<Value = u32> {
    prop_oneof![
        8 => 0..aid_bound(),
        2 => any::<u32>(),
        1 => u32::MAX - 2..=u32::MAX,
    ]
}

/// A timestamp: mostly within OTTO's weeks, some anywhere in u32, some in its last two
/// hours (where adding an hour overflows).
fn timestamp() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 1_659_304_800u32..1_662_328_791,
        1 => any::<u32>(),
        1 => u32::MAX - 7_200..=u32::MAX,
    ]
}

fn event_type() -> impl Strategy<Value = EventType> {
    prop_oneof![
        Just(EventType::Click),
        Just(EventType::Cart),
        Just(EventType::Order)
    ]
}

fn session() -> impl Strategy<Value = OwnedSession> {
    prop::collection::vec((aid(), timestamp(), event_type()), 0..=600).prop_map(|events| {
        let (aids, rest): (Vec<u32>, Vec<(u32, EventType)>) =
            events.into_iter().map(|(a, t, e)| (a, (t, e))).unzip();
        let (ts, types) = rest.into_iter().unzip();
        OwnedSession::new(aids, ts, types)
    })
}

/// The invariants of every answer.
fn check(aids: &[u32], scores: &[f32], k: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(aids.len(), scores.len());
    prop_assert!(aids.len() <= k, "{} items for k = {}", aids.len(), k);
    let mut unique = aids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    prop_assert_eq!(unique.len(), aids.len(), "duplicate items: {:?}", aids);
    prop_assert!(
        scores.iter().all(|s| s.is_finite()),
        "non-finite: {:?}",
        scores
    );
    prop_assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "not sorted: {:?}",
        scores
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    /// Any session, any objective, any k (including 0 and beyond the API's cap), both
    /// strategies.
    #[test]
    fn the_recommender_answers_every_session(
        session in session(),
        objective in event_type(),
        k in prop_oneof![4 => 1usize..=100, 1 => 0usize..100_000],
    ) {
        let model = recommender();
        for strategy in [Ranking::Heuristic, Ranking::Ranker] {
            let rec = model.recommend(session.view(), objective, k, strategy).unwrap();
            check(&rec.aids, &rec.scores, k.min(100))?;
        }
        let (rec, _) = model.recommend_timed(session.view(), objective, k);
        check(&rec.aids, &rec.scores, k.min(100))?;
    }

    /// Arbitrary bytes: parsing and checking never panic.
    #[test]
    fn the_parser_survives_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2_000)) {
        if let Ok(request) = serde_json::from_slice::<PredictRequest>(&bytes) {
            let _ = ValidRequest::try_from(&request);
        }
    }

    /// Well-formed bodies with arbitrary values: a request is accepted exactly when every
    /// rule holds, and an accepted one is answered within the invariants.
    #[test]
    fn well_formed_bodies_are_checked_and_answered(
        aids in prop::collection::vec(prop_oneof![4 => 0..aid_bound() as i64, 1 => any::<i64>()], 0..520),
        timestamps in prop::collection::vec(prop_oneof![4 => 1_659_304_800i64..1_662_328_791, 1 => any::<i64>()], 0..520),
        types in prop::collection::vec(prop_oneof![8 => 0i64..3, 1 => any::<i64>()], 0..520),
        objective in prop::option::of(prop_oneof![Just("clicks".to_string()), Just("carts".to_string()), Just("orders".to_string()), ".{0,8}"]),
        k in prop::option::of(prop_oneof![4 => 1i64..=100, 1 => any::<i64>()]),
        equal_lengths in any::<bool>(),
    ) {
        let n = aids.len().min(timestamps.len()).min(types.len());
        let cut = |v: Vec<i64>| if equal_lengths { v[..n].to_vec() } else { v };
        let (aids, timestamps, types) = (cut(aids), cut(timestamps), cut(types));
        let body = serde_json::json!({
            "aids": aids, "timestamps": timestamps, "event_types": types,
            "type": objective, "k": k,
        });
        let request: PredictRequest = serde_json::from_value(body).unwrap();
        let valid = ValidRequest::try_from(&request);
        let len = aids.len();
        let ok = len > 0
            && len <= 500
            && timestamps.len() == len
            && types.len() == len
            && aids.iter().all(|&a| u32::try_from(a).is_ok())
            && timestamps.iter().all(|&t| u64::try_from(t).ok().and_then(Timestamp::from_otto).is_some())
            && types.iter().all(|&t| (0..3).contains(&t))
            && objective.as_deref().is_none_or(|o| ["clicks", "carts", "orders"].contains(&o))
            && k.is_none_or(|k| (1..=100).contains(&k));
        prop_assert_eq!(valid.is_ok(), ok, "{:?}", valid.as_ref().err());
        if let Ok(valid) = valid {
            let (rec, _) = recommender().recommend_timed(valid.session.view(), valid.objective, valid.k);
            check(&rec.aids, &rec.scores, valid.k)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Batch prediction scores many sessions' candidates together, for every objective at
    /// once; each session's lists equal those it gets alone, for all objectives
    /// (`recommend_all`) and one objective at a time (the request path).
    #[test]
    fn a_batch_equals_its_sessions_one_by_one(
        sessions in prop::collection::vec(session(), 1..12),
        k in 1usize..=100,
    ) {
        let model = recommender();
        let views: Vec<_> = sessions.iter().map(|s| s.view()).collect();
        for strategy in [Ranking::Heuristic, Ranking::Ranker] {
            let batch = model.recommend_all_batch(&views, k, strategy).unwrap();
            prop_assert_eq!(batch.len(), views.len());
            for (&view, lists) in views.iter().zip(&batch) {
                prop_assert_eq!(&model.recommend_all(view, k, strategy).unwrap(), lists);
                for objective in EventType::ALL {
                    let alone = model.recommend(view, objective, k, strategy).unwrap();
                    prop_assert_eq!(&alone, &lists[objective.index()], "{:?}", objective);
                }
            }
        }
    }
}
