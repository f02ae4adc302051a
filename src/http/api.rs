//! The wire types of `POST /predict` (README.md, "HTTP API") and their conversion into a checked
//! request ("parse, don't validate"): every rule a request breaks becomes a 422 message.

use serde::{Deserialize, Serialize};

use super::error::{ApiError, InvalidSession};
use crate::domain::{EventType, OwnedSession, Timestamp};
use crate::pipeline::MAX_K;

/// Most events a request may carry (OTTO's longest session).
pub const MAX_EVENTS: usize = 500;
/// Items returned when the request does not say.
pub const DEFAULT_K: usize = 20;

/// A session's events, oldest first (out-of-order events are sorted), and what to return.
/// With `session`, the live session's stored events come first and the body's events (which
/// may then be none) are added to them, as if the request carried both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"aids": [429240, 588903, 170046, 429240, 170046],
    "timestamps": [1674210000, 1674220000, 1674830000, 1674832100, 1674832437],
    "event_types": [0, 1, 1, 1, 2], "type": "orders", "k": 20}))]
pub struct PredictRequest {
    /// Item ids (0..=4294967295). Required without `session`.
    #[serde(default)]
    #[schema(max_items = 500)]
    pub aids: Option<Vec<i64>>,
    /// Unix time of each event, seconds. Required without `session`.
    #[serde(default)]
    #[schema(max_items = 500)]
    pub timestamps: Option<Vec<i64>>,
    /// 0 click, 1 cart, 2 order. Required without `session`.
    #[serde(default)]
    #[schema(max_items = 500)]
    pub event_types: Option<Vec<i64>>,
    /// A live session's id (`POST /events`): its stored events are read with the body's.
    #[schema(min_length = 1, max_length = 128, pattern = "^[ -~]{1,128}$")]
    pub session: Option<String>,
    /// The objective: "clicks", "carts" or "orders" (default "orders").
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub objective: Option<String>,
    /// Items to return, 1..=100 (default 20).
    pub k: Option<i64>,
}

impl PredictRequest {
    /// The three lists (empty where absent).
    pub fn lists(&self) -> (&[i64], &[i64], &[i64]) {
        (
            self.aids.as_deref().unwrap_or_default(),
            self.timestamps.as_deref().unwrap_or_default(),
            self.event_types.as_deref().unwrap_or_default(),
        )
    }
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
        // Without a live session the three lists are required, as they always were.
        if r.session.is_none() {
            for (name, field) in [
                ("aids", &r.aids),
                ("timestamps", &r.timestamps),
                ("event_types", &r.event_types),
            ] {
                if field.is_none() {
                    return Err(InvalidSession::Field(format!("missing field `{name}`")).into());
                }
            }
        }
        let (in_aids, timestamps, event_types) = r.lists();
        let n = in_aids.len();
        if timestamps.len() != n || event_types.len() != n {
            return Err(InvalidSession::LengthMismatch {
                aids: n,
                timestamps: timestamps.len(),
                event_types: event_types.len(),
            }
            .into());
        }
        if n == 0 && r.session.is_none() {
            return Err(InvalidSession::Empty.into());
        }
        if n > MAX_EVENTS {
            return Err(InvalidSession::TooManyEvents {
                events: n,
                max: MAX_EVENTS,
            }
            .into());
        }
        let mut aids = Vec::with_capacity(n);
        for (index, &value) in in_aids.iter().enumerate() {
            let aid = u32::try_from(value).map_err(|_| InvalidSession::Aid { index, value })?;
            aids.push(aid);
        }
        let mut ts = Vec::with_capacity(n);
        for (index, &value) in timestamps.iter().enumerate() {
            let seconds = u64::try_from(value)
                .ok()
                .and_then(Timestamp::from_otto)
                .ok_or(InvalidSession::Timestamp { index, value })?;
            ts.push(seconds.seconds);
        }
        let mut types = Vec::with_capacity(n);
        for (index, &value) in event_types.iter().enumerate() {
            let kind =
                EventType::from_code(value).ok_or(InvalidSession::EventType { index, value })?;
            types.push(kind);
        }
        let objective = match r.objective.as_deref() {
            None => EventType::Order,
            Some(name) => EventType::from_name(name)
                .ok_or_else(|| InvalidSession::Objective(name.to_string()))?,
        };
        let k = match r.k {
            None => DEFAULT_K,
            Some(k) if (1..=MAX_K as i64).contains(&k) => k as usize,
            Some(value) => return Err(InvalidSession::K { value, max: MAX_K }.into()),
        };
        Ok(ValidRequest {
            session: OwnedSession::new(aids, ts, types),
            objective,
            k,
        })
    }
}

/// The success body: items best first, one score each.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PredictResponse<'a> {
    /// "success".
    pub status: &'static str,
    /// The objective answered.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub objective: &'static str,
    pub recommendation: &'a [u32],
    /// Ranker probabilities, or the heuristic's scores; sorted descending.
    pub scores: &'a [f32],
    /// The request's aids, echoed.
    pub aids: &'a [i64],
    /// The request's event types, echoed.
    pub event_types: &'a [i64],
    /// The live session answered for, when the request named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<&'a str>,
    /// Its stored events read with the body's, when the request named a session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_events: Option<usize>,
    /// "unavailable" when the session store could not be read: the answer is for the
    /// body's events alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_store: Option<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(aids: Vec<i64>, ts: Vec<i64>, types: Vec<i64>) -> PredictRequest {
        PredictRequest {
            aids: Some(aids),
            timestamps: Some(ts),
            event_types: Some(types),
            session: None,
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
    fn each_invalid_session_gets_its_code_and_a_message() {
        let cases = [
            (
                request(vec![1, 2], vec![1], vec![0, 0]),
                "length_mismatch",
                "same length",
            ),
            (request(vec![], vec![], vec![]), "empty_session", "empty"),
            (
                request(vec![-1], vec![1], vec![0]),
                "invalid_aid",
                "aids[0] = -1",
            ),
            (
                request(vec![1], vec![-5], vec![0]),
                "invalid_timestamp",
                "timestamps[0] = -5",
            ),
            (
                request(vec![1], vec![1], vec![3]),
                "invalid_event_type",
                "event_types[0] = 3",
            ),
            (
                request(vec![1; 501], vec![1; 501], vec![0; 501]),
                "too_many_events",
                "501 events",
            ),
        ];
        for (r, code, expected) in cases {
            match ValidRequest::try_from(&r) {
                Err(e @ ApiError::Invalid(_)) => {
                    assert_eq!(e.code(), code);
                    assert!(e.to_string().contains(expected), "{e}");
                }
                other => panic!("expected 422 for {expected}, got {other:?}"),
            }
        }
        let mut r = request(vec![1], vec![1], vec![0]);
        r.k = Some(0);
        assert_eq!(ValidRequest::try_from(&r).unwrap_err().code(), "invalid_k");
        r.k = None;
        r.objective = Some("views".into());
        assert_eq!(
            ValidRequest::try_from(&r).unwrap_err().code(),
            "invalid_type"
        );
    }
}
