//! The wire types of `POST /predict` (design.md §5) and their conversion into a checked
//! request ("parse, don't validate"): every rule a request breaks becomes a 422 message.

use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::data::{EventType, OwnedSession, to_seconds};
use crate::pipeline::MAX_K;

/// Most events a request may carry (OTTO's longest session).
pub const MAX_EVENTS: usize = 500;
/// Items returned when the request does not say.
pub const DEFAULT_K: usize = 20;

/// The request body as sent.
#[derive(Debug, Deserialize)]
pub struct PredictRequest {
    pub aids: Vec<i64>,
    pub timestamps: Vec<i64>,
    pub event_types: Vec<i64>,
    #[serde(rename = "type")]
    pub objective: Option<String>,
    pub k: Option<i64>,
}

/// A request that passed every check.
#[derive(Debug)]
pub struct ValidRequest {
    pub session: OwnedSession,
    pub objective: EventType,
    pub k: usize,
}

impl TryFrom<&PredictRequest> for ValidRequest {
    type Error = ApiError;

    fn try_from(r: &PredictRequest) -> Result<Self, ApiError> {
        let invalid = |m: String| Err(ApiError::Invalid(m));
        let n = r.aids.len();
        if r.timestamps.len() != n || r.event_types.len() != n {
            return invalid(format!(
                "aids, timestamps and event_types must have the same length (got {}, {}, {})",
                n,
                r.timestamps.len(),
                r.event_types.len()
            ));
        }
        if n == 0 {
            return invalid("the session is empty: send at least one event".into());
        }
        if n > MAX_EVENTS {
            return invalid(format!(
                "the session has {n} events; at most {MAX_EVENTS} are accepted"
            ));
        }
        let mut aids = Vec::with_capacity(n);
        for (i, &aid) in r.aids.iter().enumerate() {
            match u32::try_from(aid) {
                Ok(a) => aids.push(a),
                Err(_) => {
                    return invalid(format!(
                        "aids[{i}] = {aid} is not a valid aid (0..=4294967295)"
                    ));
                }
            }
        }
        let mut ts = Vec::with_capacity(n);
        for (i, &t) in r.timestamps.iter().enumerate() {
            match u64::try_from(t)
                .ok()
                .and_then(|t| u32::try_from(to_seconds(t)).ok())
            {
                Some(t) => ts.push(t),
                None => return invalid(format!("timestamps[{i}] = {t} is not a valid Unix time")),
            }
        }
        let mut types = Vec::with_capacity(n);
        for (i, &t) in r.event_types.iter().enumerate() {
            match EventType::from_code(t) {
                Some(t) => types.push(t),
                None => {
                    return invalid(format!(
                        "event_types[{i}] = {t} is not an event type (0 click, 1 cart, 2 order)"
                    ));
                }
            }
        }
        let objective = match r.objective.as_deref() {
            None => EventType::Order,
            Some(name) => match EventType::from_name(name) {
                Some(t) => t,
                None => {
                    return invalid(format!(
                        "type {name:?} is not one of \"clicks\", \"carts\", \"orders\""
                    ));
                }
            },
        };
        let k = match r.k {
            None => DEFAULT_K,
            Some(k) if (1..=MAX_K as i64).contains(&k) => k as usize,
            Some(k) => return invalid(format!("k = {k} is out of range 1..={MAX_K}")),
        };
        Ok(ValidRequest {
            session: OwnedSession::new(aids, ts, types),
            objective,
            k,
        })
    }
}

/// The success body.
#[derive(Debug, Serialize)]
pub struct PredictResponse<'a> {
    pub status: &'static str,
    #[serde(rename = "type")]
    pub objective: &'static str,
    pub recommendation: &'a [u32],
    pub scores: &'a [f32],
    pub aids: &'a [i64],
    pub event_types: &'a [i64],
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(aids: Vec<i64>, ts: Vec<i64>, types: Vec<i64>) -> PredictRequest {
        PredictRequest {
            aids,
            timestamps: ts,
            event_types: types,
            objective: None,
            k: None,
        }
    }

    #[test]
    fn a_valid_request_is_sorted_by_time_with_defaults() {
        let r = request(vec![5, 6, 7], vec![30, 10, 30], vec![0, 1, 2]);
        let valid = ValidRequest::try_from(&r).unwrap();
        assert_eq!(valid.session.aids, vec![6, 5, 7]);
        assert_eq!(valid.objective, EventType::Order);
        assert_eq!(valid.k, DEFAULT_K);
    }

    #[test]
    fn each_invalid_session_gets_a_message() {
        let cases = [
            (request(vec![1, 2], vec![1], vec![0, 0]), "same length"),
            (request(vec![], vec![], vec![]), "empty"),
            (request(vec![-1], vec![1], vec![0]), "aids[0] = -1"),
            (request(vec![1], vec![1], vec![3]), "event_types[0] = 3"),
            (
                request(vec![1; 501], vec![1; 501], vec![0; 501]),
                "501 events",
            ),
        ];
        for (r, expected) in cases {
            match ValidRequest::try_from(&r) {
                Err(ApiError::Invalid(m)) => assert!(m.contains(expected), "{m}"),
                other => panic!("expected 422 for {expected}, got {other:?}"),
            }
        }
        let mut r = request(vec![1], vec![1], vec![0]);
        r.k = Some(0);
        assert!(ValidRequest::try_from(&r).is_err());
        r.k = None;
        r.objective = Some("views".into());
        assert!(ValidRequest::try_from(&r).is_err());
    }
}
