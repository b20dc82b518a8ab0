//! Scenario smoke: every scenario on the embedded scheme at tiny scale; only failures count.

use crate::args::Args;
use crate::gateway::{Env, Server};
use crate::process::loadavg;
use crate::report::Report;
use crate::run_one;

pub async fn smoke(env: &Env, a: &Args) -> Result<Vec<Report>, String> {
    a.only(&[])?;
    let runs: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "idle",
            vec![("connections", "300"), ("topics", "3"), ("hold", "0.5")],
        ),
        (
            "fanout",
            vec![
                ("subscribers", "50"),
                ("rate", "200"),
                ("seconds", "1.5"),
                ("scheme", "embedded"),
            ],
        ),
        (
            "fetch",
            vec![
                ("messages", "3000"),
                ("scheme", "embedded"),
                ("rounds", "1"),
            ],
        ),
        (
            "requests",
            vec![
                ("connections", "50"),
                ("kind", "ping"),
                ("inflight", "8"),
                ("seconds", "1"),
            ],
        ),
        (
            "requests",
            vec![
                ("connections", "20"),
                ("kind", "produce"),
                ("inflight", "8"),
                ("seconds", "1"),
            ],
        ),
        (
            "churn",
            vec![
                ("rate", "100"),
                ("seconds", "1"),
                ("topics", "3"),
                ("settle", "0.5"),
                ("rounds", "2"),
            ],
        ),
        (
            "acks",
            vec![("messages", "500"), ("hold", "500"), ("members", "1")],
        ),
        (
            "http",
            vec![
                ("connections", "10"),
                ("seconds", "0.5"),
                ("subscribers", "20"),
                ("rate", "50"),
                ("fanout-seconds", "0.5"),
            ],
        ),
    ];
    let mut reports = Vec::new();
    for (scenario, pairs) in runs {
        if env.server == Server::Floor && matches!(scenario, "fetch" | "churn" | "acks" | "http") {
            println!("== smoke {scenario} == skipped: the floor does not do it");
            continue;
        }
        let args = a.derive(scenario, &pairs);
        let mut rep = match run_one(env, &args).await {
            Ok(rep) => rep,
            Err(e) => {
                let mut rep = Report::new(scenario);
                rep.fail(format!("could not run: {e}"));
                rep
            }
        };
        rep.scenario = format!("smoke {}", rep.scenario);
        // Performance targets mean nothing at this scale; only failures count.
        rep.targets.clear();
        rep.load_end = loadavg();
        rep.print();
        reports.push(rep);
    }
    Ok(reports)
}
