//! Where an export writes, decided and checked before the first request.
//!
//! `--output` may carry `{timestamp}` (UTC to the second, `20261201T231502Z`) and `{date}`
//! (UTC, `2026-12-01`); with `--state` the default is `contacts-{timestamp}.csv`, so cron runs
//! never reuse a name and no delta overwrites the one before (without `--state` it stays
//! `contacts-YYYY-MM-DD.csv`). The output, manifest, state and summary must be four different
//! files ([`files::distinct`]: hard and symbolic links included) and each must be writable
//! ([`files::preflight`]), else exit 2 naming both. A FIFO or character device output is
//! written through and gets no manifest unless `--manifest` names one; `--state` needs a
//! regular file, since the state advances only once the file is durable. Writing over a file
//! that an earlier run of the same state file produced is refused unless `--force`: that file
//! holds a delta the next run will not export again.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::output::Target;
use super::state::State;
use crate::exit::Fatal;
use crate::files::{self, Dest};

/// The placeholders `--output` accepts, with the format each stands for (UTC).
const PLACEHOLDERS: [(&str, &str); 2] = [("{timestamp}", "%Y%m%dT%H%M%SZ"), ("{date}", "%Y-%m-%d")];

/// The default `--output` of an incremental run.
pub const STATE_DEFAULT: &str = "contacts-{timestamp}.csv";

/// What the user named, before defaults.
pub struct Named<'a> {
    pub output: Option<&'a str>,
    pub manifest: Option<&'a Path>,
    pub state: Option<&'a Path>,
    pub summary_json: Option<&'a Path>,
    pub force: bool,
}

/// The files one export writes.
#[derive(Debug)]
pub struct Outputs {
    pub target: Target,
    /// The `--output` template with placeholders, when there was one (cleaning temporaries).
    pub template: Option<String>,
    pub manifest: Option<PathBuf>,
    /// The target with symbolic links resolved, absolute, as the state file records it.
    pub recorded: Option<String>,
}

impl Outputs {
    /// Applies the defaults and refuses, with exit 2, anything that could clobber a file.
    pub fn resolve(named: &Named<'_>, now: DateTime<Utc>) -> Result<Outputs, Fatal> {
        let template = match named.output {
            Some(t) => t.to_string(),
            None if named.state.is_some() => STATE_DEFAULT.to_string(),
            None => chrono::Local::now()
                .format("contacts-%Y-%m-%d.csv")
                .to_string(),
        };
        let target = if template == files::STDOUT {
            Target::Stdout
        } else {
            Target::Path(PathBuf::from(expand(&template, now)?))
        };
        let dest = match &target {
            Target::Stdout => Dest::Stdout,
            Target::Path(p) => files::resolve(p)
                .map_err(|e| Fatal::usage(format!("--output {}: {e}", p.display())))?,
        };
        if let (Some(state), false) = (named.state, dest.is_file()) {
            return Err(Fatal::usage(format!(
                "--state {} needs --output to be a regular file: the state advances only once \
                 the file is durable (not with -, a FIFO or a device)",
                state.display()
            )));
        }
        let manifest = match (&target, named.manifest) {
            (_, Some(m)) => Some(m.to_path_buf()),
            (Target::Path(p), None) if dest.is_file() => {
                let mut name = p.as_os_str().to_owned();
                name.push(".manifest.json");
                Some(PathBuf::from(name))
            }
            _ => None,
        };
        let recorded = match &dest {
            Dest::File(p) => Some(std::path::absolute(p).unwrap_or_else(|_| p.clone())),
            _ => None,
        }
        .map(|p| p.display().to_string());
        let outputs = Outputs {
            template: has_placeholder(&template).then_some(template),
            target,
            manifest,
            recorded,
        };
        outputs.check(named)?;
        Ok(outputs)
    }

    fn check(&self, named: &Named<'_>) -> Result<(), Fatal> {
        let mut all: Vec<(&str, &Path)> = Vec::new();
        if let Target::Path(p) = &self.target {
            all.push(("--output", p));
        }
        let extra = [
            ("--manifest", self.manifest.as_deref()),
            ("--state", named.state),
            ("--summary-json", named.summary_json),
        ];
        all.extend(extra.iter().filter_map(|(l, p)| p.map(|p| (*l, p))));
        files::distinct(&all).map_err(Fatal::usage)?;
        for (label, path) in all {
            files::preflight(path).map_err(|e| {
                Fatal::usage(format!("{label} {}: cannot write it: {e}", path.display()))
            })?;
        }
        Ok(())
    }

    /// Refuses to write over a file an earlier run of `previous` produced, unless `--force`.
    pub fn refuse_earlier_delta(
        &self,
        named: &Named<'_>,
        previous: Option<&State>,
    ) -> Result<(), Fatal> {
        let (Some(prev), Some(recorded), Target::Path(path)) =
            (previous, &self.recorded, &self.target)
        else {
            return Ok(());
        };
        if named.force || !path.exists() || !prev.outputs.iter().any(|o| o == recorded) {
            return Ok(());
        }
        Err(Fatal::usage(format!(
            "--output {}: an earlier run with --state {} wrote this file, and the contacts in \
             it will not be exported again; name a new file (the default with --state is \
             {STATE_DEFAULT}) or pass --force to replace it",
            path.display(),
            named
                .state
                .map_or(String::new(), |s| s.display().to_string())
        )))
    }
}

fn has_placeholder(template: &str) -> bool {
    PLACEHOLDERS.iter().any(|(p, _)| template.contains(p))
}

/// The template with its placeholders replaced; an unknown `{...}` is a usage error.
pub fn expand(template: &str, now: DateTime<Utc>) -> Result<String, Fatal> {
    let mut out = template.to_string();
    for (placeholder, format) in PLACEHOLDERS {
        out = out.replace(placeholder, &now.format(format).to_string());
    }
    if let Some(open) = out.find('{')
        && out[open..].contains('}')
    {
        let end = open + out[open..].find('}').unwrap_or(0);
        return Err(Fatal::usage(format!(
            "--output {template}: unknown placeholder {}; use {{timestamp}} or {{date}}",
            &out[open..=end]
        )));
    }
    Ok(out)
}

/// The literal parts of a template around its placeholders: `contacts-{date}.csv` ->
/// `["contacts-", ".csv"]` (to recognise the temporaries of every name it makes).
pub fn literal_parts(template: &str) -> Vec<String> {
    let mut parts = vec![template.to_string()];
    for (placeholder, _) in PLACEHOLDERS {
        parts = parts
            .iter()
            .flat_map(|p| p.split(placeholder).map(str::to_string).collect::<Vec<_>>())
            .collect();
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 23, 15, 2).unwrap()
    }

    #[test]
    fn placeholders_expand_in_utc_and_unknown_ones_are_refused() {
        assert_eq!(
            expand("out/c-{timestamp}.csv", now()).unwrap(),
            "out/c-20261201T231502Z.csv"
        );
        assert_eq!(
            expand("{date}-{date}.csv", now()).unwrap(),
            "2026-12-01-2026-12-01.csv"
        );
        assert_eq!(expand("plain.csv", now()).unwrap(), "plain.csv");
        let err = expand("c-{time}.csv", now()).unwrap_err().to_string();
        assert!(err.contains("{time}"), "{err}");
        assert_eq!(literal_parts("c-{timestamp}.csv"), ["c-", ".csv"]);
        assert_eq!(literal_parts("{date}.csv"), ["", ".csv"]);
        assert_eq!(literal_parts("x.csv"), ["x.csv"]);
    }
}
