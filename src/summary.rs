//! The end-of-run summary: an aligned table on stderr, the same figures as JSON on request.

use std::path::Path;

use serde::Serialize;

use crate::exit::Fatal;

pub struct Summary {
    title: String,
    rows: Vec<(String, String)>,
}

impl Summary {
    pub fn new(title: &str) -> Self {
        Summary {
            title: title.to_string(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, name: &str, value: String) {
        self.rows.push((name.to_string(), value));
    }

    pub fn render(&self) -> String {
        let width = self.rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        let mut out = format!("{} summary", self.title);
        for (name, value) in &self.rows {
            out.push_str(&format!("\n  {name:<width$}  {value}"));
        }
        out
    }
}

/// Writes `value` as pretty JSON, atomically and 0600 (or through, to a FIFO or `-`).
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), Fatal> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Fatal::usage(e.to_string()))?;
    text.push('\n');
    crate::files::write_atomic(path, text.as_bytes())
        .map_err(|e| Fatal::usage(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_an_aligned_table() {
        let mut s = Summary::new("import");
        s.row("rows", "3".into());
        s.row("created", "2".into());
        assert_eq!(s.render(), "import summary\n  rows     3\n  created  2");
    }
}
