//! The date filter of `GET /v1/contacts`: `--period` or `--range`, checked before any request.
//!
//! `--range 2023-06-01..2023-06-29` becomes `period=between&range=2023-06-01to2023-06-29` (§7 of
//! the API notes). A reversed or malformed range is a usage error (exit 2) here rather than a 400
//! `INVALID_PERIOD` from the server after the output file was created. The filter is recorded in
//! the manifest and the incremental state, so a state file is never reused with another filter.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// `--period` values other than `between`, which only `--range` produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "lowercase")]
pub enum Period {
    All,
    Today,
    Yesterday,
    Last7days,
    Last30days,
}

impl Period {
    fn as_str(self) -> &'static str {
        match self {
            Period::All => "all",
            Period::Today => "today",
            Period::Yesterday => "yesterday",
            Period::Last7days => "last7days",
            Period::Last30days => "last30days",
        }
    }
}

/// Both ends included, as the user wrote them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// What the export selects; recorded in the manifest and the state file in the API's own
/// words: `{"period": "between", "range": "2023-06-01to2023-06-29"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Wire", try_from = "Wire")]
pub enum Filter {
    Period { name: Period },
    Between { range: Range },
}

impl Filter {
    pub fn new(period: Option<Period>, range: Option<Range>) -> Filter {
        match (period, range) {
            (_, Some(range)) => Filter::Between { range },
            (Some(name), None) => Filter::Period { name },
            (None, None) => Filter::Period { name: Period::All },
        }
    }

    /// The query parameters of `GET /v1/contacts`.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        match self {
            Filter::Period { name } => vec![("period", name.as_str().to_string())],
            Filter::Between { range } => vec![
                ("period", "between".to_string()),
                ("range", format!("{}to{}", range.from, range.to)),
            ],
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Period { name } => write!(f, "period={}", name.as_str()),
            Filter::Between { range } => write!(f, "range={}..{}", range.from, range.to),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Wire {
    period: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    range: Option<String>,
}

impl From<Filter> for Wire {
    fn from(f: Filter) -> Wire {
        let mut q = f.query().into_iter().map(|(_, v)| v);
        Wire {
            period: q.next().unwrap_or_default(),
            range: q.next(),
        }
    }
}

impl TryFrom<Wire> for Filter {
    type Error = String;
    fn try_from(w: Wire) -> Result<Filter, String> {
        match (w.period.as_str(), w.range) {
            ("between", Some(r)) => parse_range(&r).map(|range| Filter::Between { range }),
            (p, None) => {
                <Period as clap::ValueEnum>::from_str(p, false).map(|name| Filter::Period { name })
            }
            (p, Some(_)) => Err(format!("period {p:?} takes no range")),
        }
    }
}

/// `2023-06-01..2023-06-29` (the API's own `2023-06-01to2023-06-29` is accepted too).
pub fn parse_range(s: &str) -> Result<Range, String> {
    let s = s.trim();
    let bad = || format!("invalid range {s:?}: expected FROM..TO like 2023-06-01..2023-06-29");
    let (from, to) = s
        .split_once("..")
        .or_else(|| s.split_once("to"))
        .ok_or_else(bad)?;
    let date = |d: &str| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| bad());
    let range = Range {
        from: date(from)?,
        to: date(to)?,
    };
    if range.from > range.to {
        return Err(format!(
            "invalid range {s:?}: {} is after {}; write the earlier date first",
            range.from, range.to
        ));
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_becomes_period_between() {
        let range = parse_range("2023-06-01..2023-06-29").unwrap();
        let q = Filter::new(None, Some(range)).query();
        assert_eq!(
            q,
            vec![
                ("period", "between".to_string()),
                ("range", "2023-06-01to2023-06-29".to_string())
            ]
        );
        assert_eq!(parse_range("2023-06-01to2023-06-29"), Ok(range));
        assert!(parse_range("2023-06-01..2023-06-01").is_ok());
    }

    #[test]
    fn reversed_or_malformed_ranges_are_usage_errors() {
        for bad in [
            "2023-06-29..2023-06-01",
            "2023-06-01",
            "2023-06-01..",
            "2023-13-01..2023-12-01",
            "yesterday..today",
            "2023/06/01..2023/06/29",
        ] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn periods_and_the_default() {
        assert_eq!(
            Filter::new(None, None).query(),
            vec![("period", "all".to_string())]
        );
        let f = Filter::new(Some(Period::Last7days), None);
        assert_eq!(f.query(), vec![("period", "last7days".to_string())]);
        assert_eq!(f.to_string(), "period=last7days");
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(json, r#"{"period":"last7days"}"#);
        assert_eq!(serde_json::from_str::<Filter>(&json).unwrap(), f);
        let between = Filter::new(None, Some(parse_range("2023-06-01..2023-06-29").unwrap()));
        let json = serde_json::to_string(&between).unwrap();
        assert_eq!(
            json,
            r#"{"period":"between","range":"2023-06-01to2023-06-29"}"#
        );
        assert_eq!(serde_json::from_str::<Filter>(&json).unwrap(), between);
    }
}
