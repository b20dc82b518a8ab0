//! Command-line options: `SCENARIO --key value ...`, checked per scenario.

use std::collections::HashMap;
use std::str::FromStr;

use crate::COMMON;

#[derive(Clone)]
pub struct Args {
    pub scenario: String,
    pub opts: HashMap<String, String>,
}

impl Args {
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut it = argv.iter();
        let scenario = it.next().cloned().unwrap_or_else(|| "help".into());
        let mut opts = HashMap::new();
        while let Some(a) = it.next() {
            let Some(key) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument {a}"));
            };
            let (key, value) = match key.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => match it.next() {
                    Some(v) => (key.to_string(), v.clone()),
                    None => return Err(format!("--{key} needs a value")),
                },
            };
            opts.insert(key, value);
        }
        Ok(Args { scenario, opts })
    }

    /// Arguments for one scenario of the smoke run: the common options plus these.
    pub fn derive(&self, scenario: &str, pairs: &[(&str, &str)]) -> Args {
        let mut opts: HashMap<String, String> = self
            .opts
            .iter()
            .filter(|(k, _)| COMMON.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in pairs {
            opts.insert(k.to_string(), v.to_string());
        }
        Args {
            scenario: scenario.into(),
            opts,
        }
    }

    pub fn only(&self, allowed: &[&str]) -> Result<(), String> {
        for k in self.opts.keys() {
            if !allowed.contains(&k.as_str()) && !COMMON.contains(&k.as_str()) {
                return Err(format!("unknown option --{k} for {}", self.scenario));
            }
        }
        Ok(())
    }

    pub fn str(&self, key: &str, default: &str) -> String {
        self.opts
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }

    pub fn num<T: FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.opts.get(key) {
            None => Ok(default),
            Some(v) => v
                .replace('_', "")
                .parse()
                .map_err(|_| format!("--{key}: not a number: {v}")),
        }
    }

    pub fn choice(&self, key: &str, default: &str, allowed: &[&str]) -> Result<String, String> {
        let v = self.str(key, default);
        if allowed.contains(&v.as_str()) {
            Ok(v)
        } else {
            Err(format!("--{key} must be one of {allowed:?}, not {v}"))
        }
    }
}
