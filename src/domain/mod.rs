//! The domain: what a shopper's session, an event, a label and a recommendation are, and
//! the time and history rules every stage shares. Plain data and pure functions: nothing
//! here reads a file, speaks HTTP or knows the command line.

mod aids;
mod event;
mod history;
mod labels;
mod recommendation;
mod session;
mod time;

pub use aids::distinct_aids;
pub use event::{EVENT_TYPE_WEIGHTS, EventType};
pub use history::{
    BUYS_RECENCY, CLICKS_RECENCY, recency_weight, unique_newest_first, weighted_history,
};
pub use labels::SessionLabels;
pub use recommendation::{Recommendation, best_first};
pub use session::{OwnedSession, Session, SessionLog};
pub use time::{DAY, HOUR, MILLISECONDS_ABOVE, Timestamp, hour_of_day, weekday};
