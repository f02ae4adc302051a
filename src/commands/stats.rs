//! `stats`: describes event files (sessions, lengths, type mix, items, time span) and
//! times reading them.

use crate::cli::StatsArgs;
use crate::commands::print_report;
use crate::commands::progress::Bars;
use crate::data::read_all_events;
use crate::error::Result;
use crate::index::ItemIds;

pub fn run(args: StatsArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let log = read_all_events(&args.input, &Bars::default())?;
    let read_seconds = started.elapsed().as_secs_f64();
    let mut lengths: Vec<usize> = log.offsets.windows(2).map(|w| w[1] - w[0]).collect();
    lengths.sort_unstable();
    let events = log.num_events();
    let [clicks, carts, orders] = log.type_counts();
    let share = |n: usize| {
        if events == 0 {
            0.0
        } else {
            n as f64 / events as f64
        }
    };
    // Events per item, counted at the items' positions: memory follows the items.
    let ids = ItemIds::of(&log.aids);
    let mut per_item = vec![0u32; ids.len()];
    for &a in &log.aids {
        per_item[ids.position(a).expect("an aid of the log") as usize] += 1;
    }
    per_item.retain(|&c| c > 0);
    per_item.sort_unstable();
    let median = |v: &[usize]| v.get(v.len() / 2).copied().unwrap_or(0);
    let (ts_min, ts_max) = log.ts_range().unwrap_or((0, 0));
    let stats = serde_json::json!({
        "sessions": log.len(),
        "events": events,
        "events_per_session": {
            "median": median(&lengths),
            "mean": if log.is_empty() { 0.0 } else { events as f64 / log.len() as f64 },
            "max": lengths.last().copied().unwrap_or(0),
        },
        "type_share": {"clicks": share(clicks), "carts": share(carts), "orders": share(orders)},
        "items": per_item.len(),
        "events_per_item": {
            "median": per_item.get(per_item.len() / 2).copied().unwrap_or(0),
            "max": per_item.last().copied().unwrap_or(0),
        },
        "ts_min": ts_min,
        "ts_max": ts_max,
        "days": (ts_max - ts_min) as f64 / 86_400.0,
        "read_seconds": read_seconds,
        "events_per_second": events as f64 / read_seconds.max(1e-9),
    });
    let mut out = String::new();
    if args.json {
        report!(out, "{stats}");
    } else {
        report!(out, "sessions            {}", log.len());
        report!(out, "events              {events}");
        report!(
            out,
            "events/session      median {}, mean {:.1}, max {}",
            stats["events_per_session"]["median"],
            stats["events_per_session"]["mean"].as_f64().unwrap_or(0.0),
            stats["events_per_session"]["max"]
        );
        report!(
            out,
            "types               clicks {:.2} %, carts {:.2} %, orders {:.2} %",
            100.0 * share(clicks),
            100.0 * share(carts),
            100.0 * share(orders)
        );
        report!(
            out,
            "items               {} (events per item: median {}, max {})",
            per_item.len(),
            stats["events_per_item"]["median"],
            stats["events_per_item"]["max"]
        );
        report!(
            out,
            "time span           {:.1} days",
            stats["days"].as_f64().unwrap_or(0.0)
        );
        report!(
            out,
            "read in             {read_seconds:.2} s ({:.0} events/s)",
            stats["events_per_second"].as_f64().unwrap_or(0.0)
        );
    }
    print_report(&out)
}
