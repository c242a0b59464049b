//! One results line: the row's cells, then its outcome columns ([`super::RESULT_COLUMNS`]).
//!
//! The one definition of the line, used by [`super::ResultsWriter`] and by a thread that
//! prepares lines ahead of their turn (the dry run's reader). Built straight from borrowed
//! cells into the caller's buffer: it allocates nothing, copies each byte once, and quotes
//! exactly as the `csv` crate does by default ([`push_field`]), which a test checks.

use super::{Kind, Outcome};

/// How lines are built for one results file: its input width and the row number counter.
pub struct LineFormat {
    width: usize,
    row: RowNumber,
    /// The outcome columns of each [`Kind`] alone ([`Outcome::is_bare`]), by [`Kind::index`].
    bare: [Vec<u8>; Kind::ALL.len()],
}

impl LineFormat {
    /// For a results file whose input has `width` columns.
    pub fn new(width: usize) -> Self {
        let bare = Kind::ALL.map(|kind| {
            let mut columns = Vec::new();
            push_outcome(&mut columns, &Outcome::new(kind));
            columns
        });
        LineFormat {
            width,
            row: RowNumber::default(),
            bare,
        }
    }

    /// Another format for the same file (its own row counter), for another thread.
    pub fn for_same_file(&self) -> Self {
        LineFormat::new(self.width)
    }

    /// Appends row `row`'s line, its line break included: the cells (padded or cut to the
    /// header's width, so the result columns always line up; extra cells are quoted in
    /// `_message` by the caller) and its outcome. `unquoted`: no cell holds a comma, a quote,
    /// CR or LF ([`crate::csv_in::Record`]'s hint), so none is searched for one.
    pub fn push(
        &mut self,
        line: &mut Vec<u8>,
        row: u64,
        cells: &[String],
        unquoted: bool,
        outcome: &Outcome,
    ) {
        for i in 0..self.width {
            let cell = cells.get(i).map_or(b"".as_slice(), |c| c.as_bytes());
            match unquoted {
                true => line.extend_from_slice(cell),
                false => push_field(line, cell),
            }
            line.push(b',');
        }
        line.extend_from_slice(self.row.of(row));
        match outcome.is_bare() {
            // The usual outcome is its kind alone: its columns are one constant.
            true => line.extend_from_slice(&self.bare[outcome.kind.index()]),
            false => push_outcome(line, outcome),
        }
    }
}

/// The outcome columns after the row number, the line break included.
fn push_outcome(line: &mut Vec<u8>, outcome: &Outcome) {
    let mut number = itoa::Buffer::new();
    line.push(b',');
    line.extend_from_slice(outcome.kind.as_str().as_bytes());
    line.push(b',');
    if let Some(status) = outcome.http_status {
        line.extend_from_slice(number.format(status).as_bytes());
    }
    line.push(b',');
    push_field(line, outcome.error_code.as_deref().unwrap_or("").as_bytes());
    line.push(b',');
    push_field(line, outcome.message.as_deref().unwrap_or("").as_bytes());
    line.push(b',');
    if let Some(details) = &outcome.details {
        push_field(
            line,
            serde_json::to_string(details)
                .unwrap_or_default()
                .as_bytes(),
        );
    }
    line.push(b',');
    if let Some(id) = outcome.contact_id {
        line.extend_from_slice(number.format(id).as_bytes());
    }
    line.push(b',');
    if outcome.attempts > 0 {
        line.extend_from_slice(number.format(outcome.attempts).as_bytes());
    }
    line.push(b',');
    push_field(line, outcome.steps.as_deref().unwrap_or("").as_bytes());
    line.push(b'\n');
}

/// A row number in decimal, counted up in place: rows are written in order, and formatting
/// each number afresh was a tenth of the line's cost.
#[derive(Default)]
struct RowNumber {
    value: u64,
    /// The digits, right-aligned: `digits[20 - len..]`.
    digits: [u8; 20],
    len: usize,
}

impl RowNumber {
    /// The decimal digits of `row`.
    fn of(&mut self, row: u64) -> &[u8] {
        if self.len > 0 && self.value.checked_add(1) == Some(row) {
            self.increment();
        } else {
            let mut buffer = itoa::Buffer::new();
            let text = buffer.format(row).as_bytes();
            self.len = text.len();
            self.digits[20 - text.len()..].copy_from_slice(text);
        }
        self.value = row;
        &self.digits[20 - self.len..]
    }

    /// Adds one to the digits: a carry through the trailing nines, one more digit at a power
    /// of ten.
    fn increment(&mut self) {
        for at in (20 - self.len..20).rev() {
            if self.digits[at] < b'9' {
                self.digits[at] += 1;
                return;
            }
            self.digits[at] = b'0';
        }
        self.len += 1;
        self.digits[20 - self.len] = b'1';
    }
}

/// Appends one field as the `csv` crate's default writer would: quoted only when it holds a
/// comma, a quote, CR or LF, with inner quotes doubled.
pub(super) fn push_field(line: &mut Vec<u8>, field: &[u8]) {
    // Most outcome columns are empty: no call into `memcpy` for nothing.
    if field.is_empty() {
        return;
    }
    if !needs_quotes(field) {
        line.extend_from_slice(field);
        return;
    }
    line.push(b'"');
    for &b in field {
        if b == b'"' {
            line.push(b'"');
        }
        line.push(b);
    }
    line.push(b'"');
}

/// Whether a field holds a comma, a quote, CR or LF. Eight bytes at a time (the exact
/// zero-byte test on the word XOR each special byte), then the tail byte by byte: this runs
/// over every cell of every row, and a loop of four compares and a branch per byte was more
/// than half of the results writer's instructions.
fn needs_quotes(field: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Non-zero exactly when some byte of `word` is `b`.
    let has = |word: u64, b: u8| {
        let x = word ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGH
    };
    let mut words = field.chunks_exact(8);
    let found = words.by_ref().any(|chunk| {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_ne_bytes(word);
        (has(word, b',') | has(word, b'"') | has(word, b'\r') | has(word, b'\n')) != 0
    });
    found
        || words
            .remainder()
            .iter()
            .any(|b| matches!(*b, b',' | b'"' | b'\r' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The hand-built line is byte for byte what the `csv` crate writes.
        #[test]
        fn fields_are_quoted_as_the_csv_crate_does(
            fields in proptest::collection::vec("[a,\"\r\n é]{0,6}|[ab é]{14,40}[a,\"\r\n]?[ab é]{0,20}", 1..5)
        ) {
            let mut line = Vec::new();
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    line.push(b',');
                }
                push_field(&mut line, f.as_bytes());
            }
            line.push(b'\n');
            let mut reference = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
            reference.write_record(&fields).unwrap();
            let reference = reference.into_inner().unwrap();
            // The crate writes `""` for a record that is one empty field; results lines never are.
            if fields.len() > 1 || !fields[0].is_empty() {
                prop_assert_eq!(line, reference);
            }
        }
    }

    /// A bare outcome's constant columns are what the general path writes, for every kind;
    /// an outcome with anything more takes the general path.
    #[test]
    fn bare_outcomes_are_written_as_the_general_path_writes_them() {
        let mut format = LineFormat::new(2);
        let cells = ["a@b.co".to_string(), "A".to_string()];
        for kind in Kind::ALL {
            let outcome = Outcome::new(kind);
            assert!(outcome.is_bare());
            let (mut fast, mut general) = (Vec::new(), b"a@b.co,A,7".to_vec());
            format.push(&mut fast, 7, &cells, true, &outcome);
            push_outcome(&mut general, &outcome);
            assert_eq!(fast, general, "{kind:?}");
            assert_eq!(
                fast,
                format!("a@b.co,A,7,{},,,,,,,\n", kind.as_str()).as_bytes()
            );
        }
        let mut noted = Outcome::new(Kind::WouldCreate).with_message("note");
        assert!(!noted.is_bare());
        noted.message = None;
        noted.attempts = 1;
        let mut line = Vec::new();
        format.push(&mut line, 8, &cells, true, &noted);
        assert_eq!(line, b"a@b.co,A,8,would_create,,,,,,1,\n");
    }

    #[test]
    fn row_numbers_count_up_as_itoa_formats_them() {
        let mut n = RowNumber::default();
        let rows = (1..=120_000u64).chain([7, 8, 999, 1000, u64::MAX - 1, u64::MAX, 0, 1]);
        for row in rows {
            assert_eq!(n.of(row), row.to_string().as_bytes(), "{row}");
        }
    }
}
