//! The `plan` step of verify: everything decided from the arguments and the files before the
//! API is contacted.
//!
//! The input is read with import's reader and mapping (same flags, same dialect detection,
//! same up-front scan of a file: size, row estimate, encoding errors before any request), so a
//! file import accepted is read the same way here. The outputs (verify file, `--extra`,
//! `--summary-json`) must each differ from the input and from one another and be writable
//! ([`files::distinct`], [`files::preflight`]): a file problem is a usage error (exit 2) while
//! nothing has been requested, and the input is never written. Called by [`super::run`].

use std::path::{Path, PathBuf};

use super::Args;
use super::strategy::ReadMode;
use crate::csv_in::{CsvInput, Source};
use crate::exit::Fatal;
use crate::files;
use crate::import::outputs::default_path;
use crate::import::scan;
use crate::mapping::{Field, Mapping};

pub struct Plan {
    /// `<stdin>` or the path, as messages name the input.
    pub source_name: String,
    /// Data rows (lines, `--limit` applied): an estimate for a file, `None` for a stream.
    pub rows_estimate: Option<u64>,
    pub headers: Vec<String>,
    pub mapping: Mapping,
    pub output: PathBuf,
    pub extra: Option<PathBuf>,
    pub summary_json: Option<PathBuf>,
    pub strict: bool,
    pub read: ReadMode,
    pub limit: Option<u64>,
    /// `--custom-fields`: bind and compare the columns that feed custom fields.
    pub custom_fields: bool,
    /// The file has a `tags` or `tag_ids` column: memberships must be read.
    pub tags: TagColumns,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagColumns {
    pub ids: bool,
    pub names: bool,
}

impl TagColumns {
    pub fn any(self) -> bool {
        self.ids || self.names
    }
}

/// The plan, and the opened input the pipeline's reader will consume.
pub fn plan(args: &Args) -> Result<(Plan, CsvInput), Fatal> {
    let source = Source::from_arg(&args.input);
    let options = args.reading.options(args.limit);
    let scanned = match &source {
        Source::Path(path) if !source.is_stream() => Some(scan::scan(path, &options, false)?),
        _ => None,
    };
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_path(&source, None, "verify"));
    check_outputs(&source, &output, args)?;
    let input = CsvInput::open(&source, &options)?;
    let headers = input.headers().to_vec();
    let mapping = Mapping::resolve(&headers, &args.map)
        .map_err(|e| Fatal::usage(format!("{}: {e}", input.source_name())))?;
    let tags = TagColumns {
        ids: mapping.column(Field::TagIds).is_some(),
        names: mapping.column(Field::Tags).is_some(),
    };
    // A spreadsheet knows its row count exactly; its line count is noise.
    let rows_estimate = scanned.map(|s| {
        let rows = input.exact_records().unwrap_or(s.records_estimate);
        args.limit.map_or(rows, |n| n.min(rows))
    });
    let plan = Plan {
        source_name: input.source_name().to_string(),
        rows_estimate,
        headers,
        mapping,
        output,
        extra: args.extra.clone(),
        summary_json: args.summary_json.clone(),
        strict: args.strict,
        read: args.read,
        limit: args.limit,
        custom_fields: args.custom_fields,
        tags,
    };
    Ok((plan, input))
}

/// The input and every output are different files, and every output can be written.
fn check_outputs(source: &Source, output: &Path, args: &Args) -> Result<(), Fatal> {
    let mut outputs = vec![("--output", output)];
    outputs.extend(args.extra.as_deref().map(|p| ("--extra", p)));
    outputs.extend(args.summary_json.as_deref().map(|p| ("--summary-json", p)));
    let mut all = Vec::new();
    if let Source::Path(p) = source {
        all.push(("the input", p.as_path()));
    }
    all.extend(outputs.iter().copied());
    files::distinct(&all).map_err(Fatal::usage)?;
    for (label, path) in outputs {
        files::preflight(path).map_err(|e| {
            Fatal::usage(format!(
                "{}: cannot write {label} there: {e}",
                path.display()
            ))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(argv: &[&str]) -> Args {
        let cli = crate::cli::Cli::try_parse_from(
            ["wolfeo-bulk", "verify"].iter().chain(argv.iter()).copied(),
        )
        .unwrap();
        match cli.command {
            crate::cli::Command::Verify(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn defaults_beside_the_input_and_refuses_to_write_over_it() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        std::fs::write(&input, "Email,tags\na@x.co,VIP\n").unwrap();
        let name = input.to_str().unwrap();
        let (plan, _) = plan(&args(&[name])).unwrap();
        assert_eq!(plan.output, dir.path().join("in.verify.csv"));
        assert_eq!(plan.rows_estimate, Some(1));
        assert_eq!(
            plan.tags,
            TagColumns {
                ids: false,
                names: true
            }
        );
        let err = plan_err(&args(&[name, "-o", name]));
        assert!(err.contains("the input and --output"), "{err}");
        let err = plan_err(&args(&[name, "--extra", name]));
        assert!(err.contains("the input and --extra"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&input).unwrap(),
            "Email,tags\na@x.co,VIP\n"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    fn plan_err(a: &Args) -> String {
        match plan(a) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        }
    }
}
