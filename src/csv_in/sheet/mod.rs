//! Spreadsheets in: `.xlsx`, `.xlsm`, `.xlsb`, `.xls` and `.ods` files, read with `calamine`,
//! handed to the import as the same [`Record`]s a CSV gives, so mapping, validation, results,
//! rejects and resume work unchanged.
//!
//! A file is a spreadsheet when its first bytes say so (a zip or an OLE container) and it is
//! a regular file (a zip needs seeking; a pipe is refused by the CSV reader with a hint). The
//! extension only chooses between the zip formats; a `.xls` that is really text (many web
//! apps save CSV or HTML under that name) is read as CSV. Rows are those of one sheet
//! (`--sheet NAME`, else the first visible worksheet): `--skip-lines N` skips the sheet's
//! first N rows, blank rows are skipped as blank lines are, the first row left is the
//! header, and each later non-blank row is one record, numbered from 1 like CSV records, so
//! `--resume` identifies rows the same way (the journal keys rows by that number, and the
//! run header fingerprints the file's bytes plus the sheet's name). `Record::line` is the
//! row number the spreadsheet shows. Cells become text as the user sees them ([`cell`]); an
//! error value (`#N/A`) becomes that row's [`RecordProblem::CellError`], never a panic.
//! The whole sheet is held in memory (calamine reads it at once): 32 bytes a cell plus its text.
//! Called by [`super::CsvInput::open`].

mod cell;

use std::fs::File;
use std::io::{self, BufReader, Seek};
use std::path::Path;

use calamine::{
    Data, Ods, Range, Reader, SheetType, SheetVisible, Sheets, StyleRange, Xls, Xlsb, Xlsx,
    open_workbook,
};

use super::{InputError, Options, Record, RecordProblem, Sheet, sanitize_for_message};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Xlsx,
    Xlsb,
    Xls,
    Ods,
}

impl Format {
    fn label(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Xlsb => "xlsb",
            Format::Xls => "xls",
            Format::Ods => "ods",
        }
    }
}

/// The spreadsheet format of a regular file, from its signature; `None` to read it as text.
/// The file is left at its start.
pub(super) fn format_of(path: &Path, file: &mut File) -> io::Result<Option<Format>> {
    let mut head = [0u8; 8];
    let n = super::read_up_to(file, &mut head)?;
    file.rewind()?;
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    Ok(match &head[..n] {
        [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1] => Some(Format::Xls),
        [b'P', b'K', 3, 4, ..] => Some(match ext.as_str() {
            "ods" | "ots" | "fods" => Format::Ods,
            "xlsb" => Format::Xlsb,
            _ => Format::Xlsx,
        }),
        _ => None,
    })
}

/// Whether `path` is a spreadsheet file that [`super::CsvInput::open`] reads as one (so its
/// bytes are no text to check or count lines in).
pub fn is_spreadsheet(path: &Path) -> bool {
    File::open(path).is_ok_and(|mut f| {
        f.metadata().is_ok_and(|m| m.is_file()) && matches!(format_of(path, &mut f), Ok(Some(_)))
    })
}

/// One sheet's rows, read as records.
pub(super) struct SheetInput {
    range: Range<Data>,
    styles: Option<StyleRange>,
    /// Absolute index of the range's first column (styles are looked up by absolute cell).
    left: u32,
    /// Next row to read, relative to the range.
    next: usize,
    /// Absolute index of the range's first row, so `line` is the row number users see.
    top: u64,
    /// Cells in the header row (up to its last non-blank one); `None` while reading it.
    width: Option<usize>,
    max_field: usize,
    max_record: usize,
}

/// A spreadsheet opened, its header read.
pub(super) struct Opened {
    pub rows: SheetInput,
    pub headers: Vec<String>,
    pub sheet: Sheet,
    /// The header's row number, as the spreadsheet shows it.
    pub header_line: u64,
    /// Non-blank rows after the header: the exact record count.
    pub records: u64,
}

pub(super) fn open(
    name: &str,
    path: &Path,
    format: Format,
    opts: &Options,
) -> Result<Opened, InputError> {
    let what = "a spreadsheet (it has no delimiter or encoding)";
    for (flag, given) in [
        ("--delimiter", opts.delimiter.is_some()),
        ("--encoding", opts.encoding.is_some()),
    ] {
        if given {
            return Err(InputError::NotApplicable {
                name: name.to_string(),
                flag,
                what,
            });
        }
    }
    let fail = |detail: String| InputError::Spreadsheet {
        name: name.to_string(),
        format: format.label(),
        detail,
    };
    // A damaged file must not take the process down: calamine is careful, but a panic deep
    // in a decoder would lose the run's results, so it is caught and reported as an error.
    let read = std::panic::catch_unwind(|| {
        let mut book = workbook(path, format)?;
        let (chosen, sheet) = choose_sheet(&book, opts.sheet.as_deref(), name, format)?;
        let range = book
            .worksheet_range(&chosen)
            .map_err(|e| fail(e.to_string()))?;
        // Number formats tell `612345678` shown as `0612345678`; only xlsx has them, and a
        // sheet whose styles cannot be read is still read, unformatted. Reading them parses
        // the sheet a second time, so only when a whole number could be padded.
        let styles = match &mut book {
            Sheets::Xlsx(x) if range.used_cells().any(|(_, _, d)| cell::is_whole(d)) => {
                x.worksheet_style(&chosen).ok()
            }
            _ => None,
        };
        Ok((Cells { range, styles }, sheet))
    });
    let (cells, sheet) = match read {
        Ok(result) => result.map_err(|e| match e {
            Opening::Input(e) => e,
            Opening::Calamine(e) => fail(e.to_string()),
        })?,
        Err(_) => return Err(fail("the spreadsheet reader failed on it".into())),
    };
    header(name, cells, sheet, opts)
}

/// A sheet's values, and its cells' styles when the format has them.
struct Cells {
    range: Range<Data>,
    styles: Option<StyleRange>,
}

enum Opening {
    Input(InputError),
    Calamine(calamine::Error),
}

impl From<InputError> for Opening {
    fn from(e: InputError) -> Self {
        Opening::Input(e)
    }
}

type Book = Sheets<BufReader<File>>;

/// Opens the workbook in the format its signature and name say; a zip that is not the
/// expected format is tried as the other zip formats before giving up.
fn workbook(path: &Path, format: Format) -> Result<Book, Opening> {
    let open = |f: Format| -> Result<Book, calamine::Error> {
        Ok(match f {
            Format::Xlsx => Sheets::Xlsx(open_workbook::<Xlsx<_>, _>(path)?),
            Format::Xlsb => Sheets::Xlsb(open_workbook::<Xlsb<_>, _>(path)?),
            Format::Xls => Sheets::Xls(open_workbook::<Xls<_>, _>(path)?),
            Format::Ods => Sheets::Ods(open_workbook::<Ods<_>, _>(path)?),
        })
    };
    let first = open(format);
    if first.is_ok() || format == Format::Xls {
        return first.map_err(Opening::Calamine);
    }
    [Format::Xlsx, Format::Ods, Format::Xlsb]
        .into_iter()
        .filter(|&f| f != format)
        .find_map(|f| open(f).ok())
        .ok_or_else(|| Opening::Calamine(first.err().expect("checked above")))
}

/// `--sheet NAME` (exactly, else ignoring case), or the first visible worksheet.
fn choose_sheet(
    book: &Book,
    wanted: Option<&str>,
    name: &str,
    format: Format,
) -> Result<(String, Sheet), InputError> {
    let all = book.sheets_metadata();
    let position = match wanted {
        Some(w) => all
            .iter()
            .position(|s| s.name == w)
            .or_else(|| {
                let mut same = all
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.name.to_lowercase() == w.to_lowercase());
                match (same.next(), same.next()) {
                    (Some((i, _)), None) => Some(i),
                    _ => None,
                }
            })
            .ok_or_else(|| InputError::UnknownSheet {
                name: name.to_string(),
                sheet: sanitize_for_message(w, 80),
                sheets: all.iter().map(|s| s.name.clone()).collect(),
            })?,
        None => {
            let worksheet = |s: &&calamine::Sheet| s.typ == SheetType::WorkSheet;
            all.iter()
                .position(|s| worksheet(&s) && s.visible == SheetVisible::Visible)
                .or_else(|| all.iter().position(|s| worksheet(&s)))
                .ok_or_else(|| InputError::Spreadsheet {
                    name: name.to_string(),
                    format: format.label(),
                    detail: "it has no worksheet".into(),
                })?
        }
    };
    let chosen = all[position].name.clone();
    let sheet = Sheet {
        format: format.label(),
        name: chosen.clone(),
        position: position + 1,
        count: all.len(),
    };
    Ok((chosen, sheet))
}

/// Skips `--skip-lines` rows and blank rows, then reads the header row.
fn header(name: &str, cells: Cells, sheet: Sheet, opts: &Options) -> Result<Opened, InputError> {
    let Cells { range, styles } = cells;
    let (top, left) = range.start().unwrap_or((0, 0));
    let top = u64::from(top);
    let mut rows = SheetInput {
        range,
        styles,
        left,
        next: opts.skip_lines.saturating_sub(top) as usize,
        top,
        width: None,
        max_field: opts.max_field_bytes,
        max_record: opts.max_record_bytes,
    };
    let mut header = Record::default();
    if !rows.read(&mut header) {
        return Err(InputError::Empty {
            name: name.to_string(),
        });
    }
    let bad = |detail: String| InputError::BadHeader {
        name: name.to_string(),
        line: header.line,
        detail,
    };
    match header.problem {
        Some(RecordProblem::CellError { column, error }) => {
            return Err(bad(format!(
                "column {} holds the error {error}",
                column + 1
            )));
        }
        Some(p) => return Err(bad(p.message(&[]))),
        None => {}
    }
    rows.width = Some(header.fields.len());
    let records = (rows.next..rows.range.height())
        .filter(|&r| !rows.blank(r))
        .count() as u64;
    Ok(Opened {
        rows,
        header_line: header.line,
        headers: header.fields,
        sheet,
        records,
    })
}

impl SheetInput {
    /// The number format of a numeric cell, when the sheet has styles.
    fn number_format(&self, row: usize, column: usize, data: &Data) -> Option<&str> {
        if !matches!(data, Data::Float(_) | Data::Int(_)) {
            return None;
        }
        let at = (
            u32::try_from(self.top + row as u64).ok()?,
            self.left + u32::try_from(column).ok()?,
        );
        let style = self.styles.as_ref()?.get(at)?;
        style.number_format.as_ref().map(|f| f.format_code.as_str())
    }

    fn blank(&self, row: usize) -> bool {
        (0..self.range.width()).all(|c| self.range.get((row, c)).is_none_or(cell::is_blank))
    }

    /// The next non-blank row into `rec` (its `line`, `fields`, `problem`); false at the end.
    /// Cells past the header's width are a [`RecordProblem::FieldCount`] when not blank, as a
    /// CSV row with extra cells is; missing trailing cells read as empty.
    pub(super) fn read(&mut self, rec: &mut Record) -> bool {
        rec.problem = None;
        rec.unquoted = false;
        rec.fields.clear();
        while self.next < self.range.height() && self.blank(self.next) {
            self.next += 1;
        }
        if self.next >= self.range.height() {
            return false;
        }
        let row = self.next;
        self.next += 1;
        rec.line = self.top + row as u64 + 1;
        let found = (0..self.range.width())
            .rfind(|&c| self.range.get((row, c)).is_some_and(|d| !cell::is_blank(d)))
            .map_or(0, |c| c + 1);
        let mut record_bytes = 0usize;
        let mut cell_error = None;
        let mut too_long = None;
        let cells = self.width.map_or(found, |w| w.max(found));
        for c in 0..cells {
            let data = self.range.get((row, c)).unwrap_or(&Data::Empty);
            let format = self.number_format(row, c, data);
            let text = match cell::text(data, format) {
                Ok(t) => t,
                Err(error) => {
                    cell_error.get_or_insert(RecordProblem::CellError { column: c, error });
                    error.into()
                }
            };
            record_bytes = record_bytes.saturating_add(text.len() + 1);
            if text.len() > self.max_field {
                too_long.get_or_insert(RecordProblem::FieldTooLong {
                    column: c,
                    bytes: text.len(),
                    limit: self.max_field,
                });
                rec.fields.push(String::new());
            } else {
                rec.fields.push(text.into_owned());
            }
        }
        rec.problem = if record_bytes > self.max_record {
            Some(RecordProblem::RecordTooLong {
                bytes: record_bytes,
                limit: self.max_record,
            })
        } else if too_long.is_some() {
            too_long
        } else if let Some(expected) = self.width.filter(|&w| found > w) {
            Some(RecordProblem::FieldCount { expected, found })
        } else {
            cell_error
        };
        true
    }
}

#[cfg(test)]
mod tests;
