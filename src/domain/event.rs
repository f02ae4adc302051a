//! Event types: click, cart, order; also the three objectives of a recommendation.

/// The kind of an event; the discriminant is the code used in Parquet and the HTTP API.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
pub enum EventType {
    #[serde(rename = "clicks")]
    Click = 0,
    #[serde(rename = "carts")]
    Cart = 1,
    #[serde(rename = "orders")]
    Order = 2,
}

/// Weight of an event of each type (click, cart, order) in the co-visitation `carts_orders`
/// table and in the recency-weighted history scores: 1, 6, 3, the values of the public
/// "Candidate ReRank" notebook.
pub const EVENT_TYPE_WEIGHTS: [f32; 3] = [1.0, 6.0, 3.0];

impl EventType {
    /// The three types in code order.
    pub const ALL: [EventType; 3] = [EventType::Click, EventType::Cart, EventType::Order];

    /// The type for a numeric code (0 click, 1 cart, 2 order).
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(EventType::Click),
            1 => Some(EventType::Cart),
            2 => Some(EventType::Order),
            _ => None,
        }
    }

    /// The type for its OTTO name (`clicks`, `carts`, `orders`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "clicks" => Some(EventType::Click),
            "carts" => Some(EventType::Cart),
            "orders" => Some(EventType::Order),
            _ => None,
        }
    }

    /// The OTTO name, also the name of the objective in submissions.
    pub fn name(self) -> &'static str {
        match self {
            EventType::Click => "clicks",
            EventType::Cart => "carts",
            EventType::Order => "orders",
        }
    }

    /// The numeric code, usable as an index into per-type arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}
