//! `--compare FLOOR`: the scenario against the gateway, then against the floor (examples/floor.rs)
//! in the same run, and a report of the ratios gateway / floor for every figure both measured.

use crate::report::{Report, J};

fn number(v: &J) -> Option<f64> {
    match v {
        J::Int(i) => Some(*i as f64),
        J::Num(f) if f.is_finite() => Some(*f),
        _ => None,
    }
}

/// Goals stated against the floor (issue #11): figure, the better direction, the bound.
fn goal(scenario: &str, metric: &str) -> Option<(&'static str, bool, f64)> {
    match (scenario, metric) {
        ("requests (ping)", "round_trips_per_sec_steady") => {
            Some((">= 0.9 x the floor", true, 0.9))
        }
        ("requests (produce)", "round_trips_per_sec_steady") => {
            Some((">= 0.6 x the floor", true, 0.6))
        }
        ("idle", "gateway_rss_per_conn_kib") => Some(("<= 1.0 x the floor", false, 1.0)),
        _ => None,
    }
}

/// Ratios gateway / floor, metric by metric, with the goals as targets.
pub fn ratios(gateway: &Report, floor: &Report) -> Report {
    let mut r = Report::new(&format!("compare {}", gateway.scenario));
    r.param("ratio", "gateway / floor, both measured in this run");
    for (k, gv, unit) in &gateway.metrics {
        let Some(fv) = floor.metrics.iter().find(|m| &m.0 == k).map(|m| &m.1) else {
            continue;
        };
        let (Some(g), Some(f)) = (number(gv), number(fv)) else {
            continue;
        };
        if f == 0.0 {
            continue;
        }
        let ratio = g / f;
        r.metric(&format!("{k}_ratio"), ratio, unit);
        if let Some((name, higher_is_better, bound)) = goal(&gateway.scenario, k) {
            let met = if higher_is_better {
                ratio >= bound
            } else {
                ratio <= bound
            };
            r.target(
                &format!("{k} {name}"),
                met,
                format!("gateway {g:.1}, floor {f:.1}: {ratio:.3}"),
            );
        }
    }
    for f in gateway.failures.iter().chain(&floor.failures) {
        r.notes.push(format!("a side failed: {f}"));
    }
    r
}
