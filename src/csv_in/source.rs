//! What the reader reads and how: the input [`Source`], its [`Encoding`] (WHATWG labels, UTF-16
//! told with or without a BOM), the caller's [`Options`], and the [`Dialect`] the reader settled
//! on, which the summary shows and the rejects writer copies. Besides a `metadata` call, the only
//! I/O is [`decode`], which puts the right decoder in front of the raw bytes. Used by
//! [`super::CsvInput`] and by import's plan and outputs.

use std::fmt;
use std::io::{self, Read};
use std::path::PathBuf;
use std::str::FromStr;

use super::sanitize_for_message;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Path(PathBuf),
    Stdin,
}

impl Source {
    /// The command line's input: `-` is standard input, anything else a path.
    pub fn from_arg(arg: &str) -> Source {
        if arg == "-" {
            Source::Stdin
        } else {
            Source::Path(PathBuf::from(arg))
        }
    }

    /// Read once, front to back, as it arrives: stdin, a FIFO, `<(...)`, a device. Such an
    /// input cannot be fingerprinted or read twice (no pre-scan, no `--resume`).
    pub fn is_stream(&self) -> bool {
        match self {
            Source::Stdin => true,
            Source::Path(p) => std::fs::metadata(p).is_ok_and(|m| !m.is_file()),
        }
    }

    /// The name error messages start with.
    pub fn display_name(&self) -> String {
        match self {
            Source::Path(p) => sanitize_for_message(&p.display().to_string(), 4096),
            Source::Stdin => "<stdin>".to_string(),
        }
    }
}

/// `Latin1` decodes as windows-1252: WHATWG (and so `encoding_rs`) treats
/// ISO-8859-1 as windows-1252, which only differs in 0x80-0x9F where real
/// "Latin-1" files almost always mean the windows-1252 characters anyway.
/// `Utf8` is the same strict UTF-8 as no encoding at all: replacing bad bytes
/// with U+FFFD would silently alter email addresses.
/// `Other` is any other encoding by its WHATWG label (`iso-8859-15`, `windows-1250`,
/// `shift_jis`, `utf-16be`, ...), as `encoding_rs` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Windows1252,
    Latin1,
    Utf16,
    Other(&'static encoding_rs::Encoding),
}

impl FromStr for Encoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let label = s.trim().to_ascii_lowercase();
        match label.as_str() {
            "utf-8" | "utf8" => return Ok(Encoding::Utf8),
            "windows-1252" | "cp1252" => return Ok(Encoding::Windows1252),
            "latin1" | "latin-1" | "iso-8859-1" => return Ok(Encoding::Latin1),
            "utf-16" | "utf16" | "utf-16le" => return Ok(Encoding::Utf16),
            _ => {}
        }
        // People write `latin-9`, `ISO8859-15`, `cp_1250`: try the label, then without `-`/`_`.
        let squeezed: String = label.chars().filter(|c| !matches!(c, '-' | '_')).collect();
        encoding_rs::Encoding::for_label(label.as_bytes())
            .or_else(|| encoding_rs::Encoding::for_label(squeezed.as_bytes()))
            .or_else(|| {
                let iso = squeezed.strip_prefix("iso8859")?;
                encoding_rs::Encoding::for_label(format!("iso-8859-{iso}").as_bytes())
            })
            .map(|e| match e.name() {
                "UTF-8" => Encoding::Utf8,
                "windows-1252" => Encoding::Windows1252,
                "UTF-16LE" => Encoding::Utf16,
                _ => Encoding::Other(e),
            })
            .ok_or_else(|| {
                format!(
                    "unknown encoding \"{}\"; use a WHATWG label: utf-8, windows-1252, latin1, \
                     iso-8859-15, utf-16, utf-16be, ...",
                    sanitize_for_message(s, 40)
                )
            })
    }
}

/// Whether a file starting with `head` (its first 4 bytes) is read as UTF-16 without a flag.
pub fn is_utf16(head: &[u8]) -> bool {
    head.starts_with(b"\xFF\xFE")
        || head.starts_with(b"\xFE\xFF")
        || utf16_without_bom(head).is_some()
}

/// A UTF-16 file without a byte-order mark, told by the NULs of ASCII text: `e\0m\0` is
/// little-endian, `\0e\0m` big-endian. CSV text in UTF-8 never has those NULs.
fn utf16_without_bom(head: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    match head {
        [a, 0, b, 0] if *a != 0 && *b != 0 => Some(encoding_rs::UTF_16LE),
        [0, a, 0, b] if *a != 0 && *b != 0 => Some(encoding_rs::UTF_16BE),
        _ => None,
    }
}

/// The reader the parser reads from, the encoding's name and whether a BOM was seen. BOMs and
/// binary signatures are facts about raw bytes, so `head` (the first bytes, already taken from
/// `raw`) is looked at before any decoder touches it, then put back in front.
pub(super) fn decode(
    name: &str,
    head: &[u8],
    raw: Box<dyn Read + Send>,
    encoding: Option<Encoding>,
) -> Result<(Box<dyn Read + Send>, &'static str, bool), super::InputError> {
    let utf8_bom = head.starts_with(b"\xEF\xBB\xBF");
    Ok(match encoding {
        // A UTF-16 file says so (BOM) or shows it (NULs): no flag needed.
        None if is_utf16(head) => {
            let (chosen, bom) = match utf16_without_bom(head) {
                Some(e) => (e, false),
                None if head.starts_with(b"\xFE\xFF") => (encoding_rs::UTF_16BE, true),
                None => (encoding_rs::UTF_16LE, true),
            };
            (decoder(chosen, head, raw), chosen.name(), bom)
        }
        None | Some(Encoding::Utf8) => {
            if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
                return Err(super::InputError::Utf16Bom {
                    name: name.to_string(),
                });
            }
            let rest = head[if utf8_bom { 3 } else { 0 }..].to_vec();
            (
                Box::new(io::Cursor::new(rest).chain(raw)),
                "UTF-8",
                utf8_bom,
            )
        }
        Some(enc) => {
            let chosen = match enc {
                Encoding::Utf16 => encoding_rs::UTF_16LE,
                Encoding::Other(e) => e,
                _ => encoding_rs::WINDOWS_1252,
            };
            // The decoder lets a BOM override the chosen encoding; mirror that in the label.
            let (label, bom) = if utf8_bom {
                (encoding_rs::UTF_8, true)
            } else if head.starts_with(b"\xFF\xFE") {
                (encoding_rs::UTF_16LE, true)
            } else if head.starts_with(b"\xFE\xFF") {
                (encoding_rs::UTF_16BE, true)
            } else {
                (chosen, false)
            };
            (decoder(chosen, head, raw), label.name(), bom)
        }
    })
}

/// `head` then the rest of `raw`, decoded from `chosen` (a BOM, if any, overrides it and is
/// dropped).
fn decoder(
    chosen: &'static encoding_rs::Encoding,
    head: &[u8],
    raw: Box<dyn Read + Send>,
) -> Box<dyn Read + Send> {
    Box::new(
        encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(Some(chosen))
            .bom_override(true)
            .strip_bom(true)
            .build(io::Cursor::new(head.to_vec()).chain(raw)),
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `None`: a `sep=` line, else conservative detection (`detect_delimiter`).
    pub delimiter: Option<u8>,
    /// `None`: strict UTF-8.
    pub encoding: Option<Encoding>,
    pub max_field_bytes: usize,
    pub max_record_bytes: usize,
    /// `--limit`: read no record past this many (the rest of the input is never read).
    pub limit: Option<u64>,
    /// `--skip-lines`: title lines (CSV) or rows (spreadsheet) above the header, counted after
    /// a `sep=` line. Blank lines are skipped anyway, counted or not.
    pub skip_lines: u64,
    /// `--sheet`: a spreadsheet's sheet by name (default: the first visible worksheet).
    pub sheet: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            delimiter: None,
            encoding: None,
            max_field_bytes: 1 << 20,
            max_record_bytes: 4 << 20,
            limit: None,
            skip_lines: 0,
            sheet: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelimiterSource {
    Flag,
    SepLine,
    Detected,
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialect {
    pub delimiter: u8,
    pub delimiter_source: DelimiterSource,
    pub encoding: &'static str,
    pub bom: bool,
    /// The header row ended with CR LF (a file from Windows or Excel): files written back for
    /// the user (rejects) end their lines the same way.
    pub crlf: bool,
    /// Set when the input is a spreadsheet: the rows come from this sheet, and files written
    /// back for the user are CSV (UTF-8 with a BOM, commas, CR LF, as Excel reads them).
    pub sheet: Option<Sheet>,
}

/// The sheet a spreadsheet input is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sheet {
    /// `xlsx`, `xls`, `xlsb` or `ods`.
    pub format: &'static str,
    pub name: String,
    /// 1-based position among the workbook's sheets, and how many it has.
    pub position: usize,
    pub count: usize,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.sheet {
            let name = sanitize_for_message(&s.name, 80);
            return write!(
                f,
                "{} sheet \"{name}\" ({} of {}); rejects are written as CSV",
                s.format, s.position, s.count
            );
        }
        let from = match self.delimiter_source {
            DelimiterSource::Flag => "from --delimiter",
            DelimiterSource::SepLine => "from \"sep=\" line",
            DelimiterSource::Detected => "detected",
            DelimiterSource::Default => "default",
        };
        let d = self.delimiter;
        let shown = match d {
            b'\t' => "\\t".to_string(),
            0x21..=0x7e | b' ' => (d as char).to_string(),
            _ => format!("\\x{d:02x}"),
        };
        let bom = if self.bom { " with BOM" } else { "" };
        write!(f, "delimiter '{shown}' ({from}), {}{bom}", self.encoding)
    }
}
