//! A spreadsheet cell as the text a user sees, so a row read from `.xlsx` maps, validates and
//! is sent exactly as the same row saved as CSV would be.
//!
//! Spreadsheets store numbers as binary floats and dates as day counts; a naive conversion
//! gives `33612345678.0`, `1.0E+5` or `45352`. The rules: whole numbers are written as
//! integers; other numbers with at most 15 significant digits (Excel's own precision, so
//! `0.1 + 0.2` reads `0.3`), never in exponent notation; dates as ISO 8601 (`2024-03-01`,
//! `2024-03-01 14:30:00` with a time, `14:30:00` for a time alone); booleans as Excel shows
//! them (`TRUE`/`FALSE`, which the consent reader understands); formulas by their cached value.
//! An error value (`#N/A`) is returned as `Err` with its text. Of number formats, only the
//! zero padding of an all-`0` format is applied (`0612345678`, a phone number stored as a
//! number); currency, %, thousands separators are not: the value is written, not its
//! decoration.
//! Called by [`super::SheetInput`] for every cell it hands over.

use std::borrow::Cow;

use calamine::{CellErrorType, Data, ExcelDateTime};

/// The cell's text, or the spreadsheet error it holds (`#N/A`, `#REF!`, ...). `format` is the
/// cell's number format code, when known.
pub(super) fn text<'a>(cell: &'a Data, format: Option<&str>) -> Result<Cow<'a, str>, &'static str> {
    let padded = |digits: String| match format.and_then(zero_padding) {
        Some(width) if digits.len() < width && !digits.starts_with('-') => {
            format!("{digits:0>width$}")
        }
        _ => digits,
    };
    Ok(match cell {
        Data::Empty => Cow::Borrowed(""),
        Data::String(s) => match ERRORS.iter().find(|e| **e == s) {
            Some(e) => return Err(e),
            None => Cow::Borrowed(s.as_str()),
        },
        Data::Int(i) => Cow::Owned(padded(i.to_string())),
        Data::Float(f) if f.fract() == 0.0 => Cow::Owned(padded(number(*f))),
        Data::Float(f) => Cow::Owned(number(*f)),
        Data::Bool(true) => Cow::Borrowed("TRUE"),
        Data::Bool(false) => Cow::Borrowed("FALSE"),
        Data::DateTime(dt) => Cow::Owned(date_time(dt)),
        // OpenDocument stores dates as ISO text already: `2024-03-01T14:30:00`.
        Data::DateTimeIso(s) => Cow::Owned(s.replacen('T', " ", 1)),
        Data::DurationIso(s) => Cow::Owned(iso_duration(s).unwrap_or_else(|| s.clone())),
        Data::Error(e) => return Err(error_text(e)),
    })
}

/// A number without a fraction: the only kind a format of zeros pads.
pub(super) fn is_whole(cell: &Data) -> bool {
    match cell {
        Data::Int(_) => true,
        Data::Float(f) => f.fract() == 0.0,
        _ => false,
    }
}

/// Whether the cell shows nothing: a row of such cells is a blank line.
pub(super) fn is_blank(cell: &Data) -> bool {
    match cell {
        Data::Empty => true,
        Data::String(s) => s.is_empty(),
        _ => false,
    }
}

/// The width of a format made only of `0`s (`0000000000` for phone numbers, `00000` for ZIP
/// codes): Excel shows a whole number padded with leading zeros to that width, and that is the
/// value the user means. Other formats are not applied.
fn zero_padding(code: &str) -> Option<usize> {
    (!code.is_empty() && code.bytes().all(|b| b == b'0')).then_some(code.len())
}

/// Excel keeps 15 significant digits: round to those, then print the shortest decimal that
/// reads back as that value (Rust's `Display` for `f64` never uses an exponent).
pub(super) fn number(f: f64) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return (f as i64).to_string();
    }
    let rounded: f64 = format!("{f:.14e}").parse().unwrap_or(f);
    if rounded == 0.0 {
        return "0".to_string();
    }
    rounded.to_string()
}

/// ISO 8601 with a space before the time, as spreadsheets and Laravel's `Y-m-d H:i:s` write
/// it; the time is rounded to the second (the stored fraction of a day rarely lands on one).
fn date_time(dt: &ExcelDateTime) -> String {
    if dt.is_duration() {
        let seconds = (dt.as_f64() * 86_400.0).round() as i64;
        let sign = if seconds < 0 { "-" } else { "" };
        let s = seconds.unsigned_abs();
        return format!("{sign}{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    }
    let Some(when) = dt.as_datetime() else {
        return number(dt.as_f64());
    };
    let when = when + chrono::Duration::milliseconds(500);
    let when = when.format("%Y-%m-%d %H:%M:%S").to_string();
    let (date, time) = when.split_at(10);
    let serial = dt.as_f64();
    if serial.fract() == 0.0 {
        date.to_string()
    } else if serial.abs() < 1.0 {
        // A time of day alone (serial 0.x): its date part would be Excel's day zero.
        time.trim_start().to_string()
    } else {
        when
    }
}

/// `PT14H30M00S` (how OpenDocument stores a time or duration) -> `14:30:00`.
fn iso_duration(s: &str) -> Option<String> {
    let rest = s.strip_prefix("PT")?;
    let (h, rest) = rest.split_once('H')?;
    let (m, rest) = rest.split_once('M')?;
    let sec = rest.strip_suffix('S')?;
    let h: u64 = h.parse().ok()?;
    let m: u64 = m.parse().ok()?;
    let sec: f64 = sec.parse().ok()?;
    Some(format!("{h:02}:{m:02}:{:02}", sec.round() as u64))
}

/// What spreadsheets show for an error value. OpenDocument stores errors as text (LibreOffice
/// writes the `#N/A` it shows), and a spreadsheet reads these literals typed into a cell as
/// errors too, so such text is an error whatever the format. (LibreOffice's own `Err:502`
/// codes are left as text: nothing tells them from a typed value.)
const ERRORS: [&str; 8] = [
    "#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!", "#DATA!",
];

fn error_text(e: &CellErrorType) -> &'static str {
    match e {
        CellErrorType::Div0 => "#DIV/0!",
        CellErrorType::NA => "#N/A",
        CellErrorType::Name => "#NAME?",
        CellErrorType::Null => "#NULL!",
        CellErrorType::Num => "#NUM!",
        CellErrorType::Ref => "#REF!",
        CellErrorType::Value => "#VALUE!",
        CellErrorType::GettingData => "#DATA!",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::ExcelDateTimeType;

    fn text_of(cell: &Data) -> Result<Cow<'_, str>, &'static str> {
        text(cell, None)
    }

    #[test]
    fn all_zero_formats_pad_whole_numbers() {
        let zeros = Some("0000000000");
        assert_eq!(
            text(&Data::Float(612345678.0), zeros).unwrap(),
            "0612345678"
        );
        assert_eq!(text(&Data::Int(501), Some("00000")).unwrap(), "00501");
        assert_eq!(
            text(&Data::Float(12345678901.0), zeros).unwrap(),
            "12345678901"
        );
        assert_eq!(text(&Data::Float(6.5), zeros).unwrap(), "6.5");
        assert_eq!(
            text(&Data::Float(612345678.0), Some("0.00")).unwrap(),
            "612345678"
        );
        assert_eq!(text(&Data::Float(-5.0), Some("000")).unwrap(), "-5");
    }

    #[test]
    fn numbers_read_as_displayed() {
        assert_eq!(number(33612345678.0), "33612345678");
        assert_eq!(number(100000.0), "100000");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(42.5), "42.5");
        assert_eq!(number(0.1 + 0.2), "0.3");
        assert_eq!(number(1.0 / 3.0), "0.333333333333333");
        assert_eq!(number(1e-7), "0.0000001");
        assert_eq!(number(1e20), "100000000000000000000");
        assert_eq!(number(123456789012345678.0), "123456789012346000");
        assert_eq!(text_of(&Data::Int(7)).unwrap(), "7");
        assert_eq!(text_of(&Data::Bool(true)).unwrap(), "TRUE");
        assert_eq!(text_of(&Data::Error(CellErrorType::NA)), Err("#N/A"));
        assert_eq!(text_of(&Data::String("#N/A".into())), Err("#N/A"));
        assert_eq!(text_of(&Data::String("#N/A ".into())).unwrap(), "#N/A ");
    }

    #[test]
    fn dates_and_times_read_as_iso() {
        let dt = |v: f64| Data::DateTime(ExcelDateTime::new(v, ExcelDateTimeType::DateTime, false));
        // 2024-03-01 is serial 45352 in the 1900 system.
        assert_eq!(text_of(&dt(45352.0)).unwrap(), "2024-03-01");
        assert_eq!(
            text_of(&dt(45352.604166666664)).unwrap(),
            "2024-03-01 14:30:00"
        );
        assert_eq!(text_of(&dt(0.604166666664)).unwrap(), "14:30:00");
        let d1904 = Data::DateTime(ExcelDateTime::new(
            43890.0,
            ExcelDateTimeType::DateTime,
            true,
        ));
        assert_eq!(text_of(&d1904).unwrap(), "2024-03-01");
        let span = Data::DateTime(ExcelDateTime::new(1.5, ExcelDateTimeType::TimeDelta, false));
        assert_eq!(text_of(&span).unwrap(), "36:00:00");
        let iso = Data::DateTimeIso("2024-03-01T14:30:00".into());
        assert_eq!(text_of(&iso).unwrap(), "2024-03-01 14:30:00");
        assert_eq!(
            text_of(&Data::DurationIso("PT14H30M00S".into())).unwrap(),
            "14:30:00"
        );
    }
}
