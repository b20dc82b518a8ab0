//! Results: one table per scenario on stdout, the same as JSON, latency histograms, and
//! sampling a counter over time for steady-state rates.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::process::loadavg;

#[derive(Clone, Debug)]
pub enum J {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl From<bool> for J {
    fn from(v: bool) -> J {
        J::Bool(v)
    }
}
impl From<u64> for J {
    fn from(v: u64) -> J {
        J::Int(v as i64)
    }
}
impl From<i32> for J {
    fn from(v: i32) -> J {
        J::Int(v.into())
    }
}
impl From<i64> for J {
    fn from(v: i64) -> J {
        J::Int(v)
    }
}
impl From<usize> for J {
    fn from(v: usize) -> J {
        J::Int(v as i64)
    }
}
impl From<f64> for J {
    fn from(v: f64) -> J {
        J::Num(v)
    }
}
impl From<&str> for J {
    fn from(v: &str) -> J {
        J::Str(v.into())
    }
}
impl From<String> for J {
    fn from(v: String) -> J {
        J::Str(v)
    }
}
impl<T: Into<J>> From<Option<T>> for J {
    fn from(v: Option<T>) -> J {
        v.map_or(J::Null, Into::into)
    }
}

impl J {
    pub fn write(&self, out: &mut String, indent: usize) {
        let pad = "  ".repeat(indent + 1);
        let end = "  ".repeat(indent);
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Int(i) => {
                let _ = write!(out, "{i}");
            }
            J::Num(f) if f.is_finite() => {
                let _ = write!(out, "{}", (f * 1000.0).round() / 1000.0);
            }
            J::Num(_) => out.push_str("null"),
            J::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        c if (c as u32) < 0x20 => {
                            let _ = write!(out, "\\u{:04x}", c as u32);
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            J::Arr(v) if v.is_empty() => out.push_str("[]"),
            J::Arr(v) => {
                out.push_str("[\n");
                for (i, x) in v.iter().enumerate() {
                    out.push_str(&pad);
                    x.write(out, indent + 1);
                    out.push_str(if i + 1 < v.len() { ",\n" } else { "\n" });
                }
                out.push_str(&end);
                out.push(']');
            }
            J::Obj(v) if v.is_empty() => out.push_str("{}"),
            J::Obj(v) => {
                out.push_str("{\n");
                for (i, (k, x)) in v.iter().enumerate() {
                    out.push_str(&pad);
                    J::Str(k.clone()).write(out, indent + 1);
                    out.push_str(": ");
                    x.write(out, indent + 1);
                    out.push_str(if i + 1 < v.len() { ",\n" } else { "\n" });
                }
                out.push_str(&end);
                out.push('}');
            }
        }
    }

    pub fn display(&self) -> String {
        match self {
            J::Num(f) if f.is_finite() && f.abs() >= 100.0 => format!("{f:.0}"),
            J::Num(f) if f.is_finite() => format!("{f:.3}"),
            J::Str(s) => s.clone(),
            other => {
                let mut s = String::new();
                other.write(&mut s, 0);
                s
            }
        }
    }
}

pub struct Target {
    pub name: String,
    pub met: bool,
    pub detail: String,
}

pub struct Report {
    pub scenario: String,
    pub params: Vec<(String, J)>,
    pub metrics: Vec<(String, J, &'static str)>,
    pub targets: Vec<Target>,
    pub failures: Vec<String>,
    pub notes: Vec<String>,
    pub load_start: String,
    pub load_end: String,
}

impl Report {
    pub fn new(scenario: &str) -> Report {
        Report {
            scenario: scenario.into(),
            params: Vec::new(),
            metrics: Vec::new(),
            targets: Vec::new(),
            failures: Vec::new(),
            notes: Vec::new(),
            load_start: loadavg(),
            load_end: String::new(),
        }
    }
    pub fn param(&mut self, k: &str, v: impl Into<J>) {
        self.params.push((k.into(), v.into()));
    }
    pub fn metric(&mut self, k: &str, v: impl Into<J>, unit: &'static str) {
        self.metrics.push((k.into(), v.into(), unit));
    }
    pub fn target(&mut self, name: &str, met: bool, detail: String) {
        self.targets.push(Target {
            name: name.into(),
            met,
            detail,
        });
    }
    pub fn fail(&mut self, msg: impl Into<String>) {
        self.failures.push(msg.into());
    }
    pub fn note(&mut self, msg: impl Into<String>) {
        self.notes.push(msg.into());
    }

    pub fn print(&self) {
        let mut s = String::new();
        let _ = writeln!(s, "\n== {} ==", self.scenario);
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={}", v.display()))
            .collect();
        let _ = writeln!(s, "params: {}", params.join(" "));
        let _ = writeln!(
            s,
            "load average: {} at start, {} at end",
            self.load_start, self.load_end
        );
        let width = self.metrics.iter().map(|m| m.0.len()).max().unwrap_or(0);
        let _ = writeln!(s, "{:-<1$}", "", width + 24);
        for (k, v, unit) in &self.metrics {
            let _ = writeln!(s, "{k:<width$}  {:>14} {unit}", v.display());
        }
        let _ = writeln!(s, "{:-<1$}", "", width + 24);
        for t in &self.targets {
            let _ = writeln!(
                s,
                "target {}: {} ({})",
                t.name,
                if t.met { "met" } else { "NOT MET" },
                t.detail
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        if self.failures.is_empty() {
            let _ = writeln!(s, "failures: none");
        } else {
            for f in &self.failures {
                let _ = writeln!(s, "FAILURE: {f}");
            }
        }
        print!("{s}");
    }

    pub fn json(&self) -> J {
        J::Obj(vec![
            ("scenario".into(), self.scenario.clone().into()),
            ("params".into(), J::Obj(self.params.clone())),
            (
                "metrics".into(),
                J::Obj(
                    self.metrics
                        .iter()
                        .map(|(k, v, _)| (k.clone(), v.clone()))
                        .collect(),
                ),
            ),
            (
                "units".into(),
                J::Obj(
                    self.metrics
                        .iter()
                        .map(|(k, _, u)| (k.clone(), (*u).into()))
                        .collect(),
                ),
            ),
            (
                "targets".into(),
                J::Arr(
                    self.targets
                        .iter()
                        .map(|t| {
                            J::Obj(vec![
                                ("name".into(), t.name.clone().into()),
                                ("met".into(), t.met.into()),
                                ("detail".into(), t.detail.clone().into()),
                            ])
                        })
                        .collect(),
                ),
            ),
            (
                "failures".into(),
                J::Arr(self.failures.iter().map(|f| f.clone().into()).collect()),
            ),
            (
                "notes".into(),
                J::Arr(self.notes.iter().map(|f| f.clone().into()).collect()),
            ),
            ("load_average_start".into(), self.load_start.clone().into()),
            ("load_average_end".into(), self.load_end.clone().into()),
        ])
    }
}

#[derive(Clone, Default)]
pub struct Hist {
    pub counts: Vec<u64>,
    pub n: u64,
    pub max: u64,
}

impl Hist {
    pub fn index(v: u64) -> usize {
        if v < 128 {
            return v as usize;
        }
        let bits = 63 - v.leading_zeros();
        let shift = bits - 6;
        let m = (v >> shift) as usize;
        128 + (shift as usize - 1) * 64 + (m - 64)
    }

    pub fn value(i: usize) -> u64 {
        if i < 128 {
            return i as u64;
        }
        let shift = ((i - 128) / 64 + 1) as u32;
        let m = ((i - 128) % 64 + 64) as u64;
        (m << shift) + (1u64 << shift) / 2
    }

    pub fn record_us(&mut self, us: u64) {
        let i = Self::index(us);
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.n += 1;
        self.max = self.max.max(us);
    }

    pub fn merge(&mut self, o: &Hist) {
        if o.counts.len() > self.counts.len() {
            self.counts.resize(o.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.n += o.n;
        self.max = self.max.max(o.max);
    }

    /// The q-quantile in milliseconds.
    pub fn ms(&self, q: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::value(i).min(self.max) as f64 / 1000.0);
            }
        }
        Some(self.max as f64 / 1000.0)
    }

    pub fn add_to(&self, r: &mut Report, prefix: &str) {
        r.metric(&format!("{prefix}_p50_ms"), self.ms(0.50), "ms");
        r.metric(&format!("{prefix}_p99_ms"), self.ms(0.99), "ms");
        r.metric(&format!("{prefix}_p999_ms"), self.ms(0.999), "ms");
        r.metric(
            &format!("{prefix}_max_ms"),
            (self.n > 0).then(|| self.max as f64 / 1000.0),
            "ms",
        );
    }
}

/// Samples a counter every `every` until cancelled: (seconds since start, value).
pub fn sampler(
    read: impl Fn() -> u64 + Send + 'static,
    every: Duration,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<Vec<(f64, u64)>> {
    tokio::spawn(async move {
        let start = Instant::now();
        let mut out = vec![(0.0, read())];
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => out.push((start.elapsed().as_secs_f64(), read())),
            }
        }
        out
    })
}

/// Median of the per-interval rates between `from` and `to` seconds.
pub fn steady_rate(samples: &[(f64, u64)], from: f64, to: f64) -> Option<f64> {
    let mut rates: Vec<f64> = samples
        .windows(2)
        .filter(|w| w[0].0 >= from && w[1].0 <= to)
        .map(|w| (w[1].1 - w[0].1) as f64 / (w[1].0 - w[0].0))
        .collect();
    if rates.is_empty() {
        return None;
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    Some(rates[rates.len() / 2])
}
