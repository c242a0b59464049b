//! The command-line flags that say how to read an input, shared by every command that reads
//! one (`import`, `verify`): one definition of their names, help and parsing, and one way to
//! turn them into [`Options`]. `export` writes a delimiter and uses [`parse_delimiter`] only.

use super::{Encoding, Options};

/// How to read the input: flattened into a command's own `Args`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReadArgs {
    /// Field delimiter (default: detected; comma unless ';' or tab clearly wins): , ; tab |
    #[arg(short, long, value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,

    /// Input encoding when not UTF-8: windows-1252, latin1, utf-16.
    #[arg(short, long)]
    pub encoding: Option<Encoding>,

    /// Lines above the header to skip (a title, an export date): physical lines of a CSV, rows
    /// of a spreadsheet. Blank lines are skipped anyway.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub skip_lines: u64,

    /// The sheet to read from an .xlsx, .xls or .ods input (default: the first visible one).
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
}

impl ReadArgs {
    /// The reader's options, reading at most `limit` data rows.
    pub fn options(&self, limit: Option<u64>) -> Options {
        Options {
            delimiter: self.delimiter,
            encoding: self.encoding,
            limit,
            skip_lines: self.skip_lines,
            sheet: self.sheet.clone(),
            ..Options::default()
        }
    }
}

/// `--delimiter`: one ASCII character that can separate fields, or `tab`.
pub fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" && s != "\r" => {
            Ok(s.as_bytes()[0])
        }
        _ => Err(format!(
            "invalid delimiter {s:?}: use one ASCII character such as , ; | or tab"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters() {
        assert_eq!(parse_delimiter(";"), Ok(b';'));
        assert_eq!(parse_delimiter("tab"), Ok(b'\t'));
        assert!(parse_delimiter("ab").is_err());
        assert!(parse_delimiter("\"").is_err());
    }

    #[test]
    fn options_carry_every_flag() {
        let args = ReadArgs {
            delimiter: Some(b';'),
            encoding: None,
            skip_lines: 2,
            sheet: Some("Contacts".into()),
        };
        let o = args.options(Some(5));
        assert_eq!(o.delimiter, Some(b';'));
        assert_eq!((o.skip_lines, o.limit), (2, Some(5)));
        assert_eq!(o.sheet.as_deref(), Some("Contacts"));
    }
}
