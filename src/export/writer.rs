//! The CSV consumer of the contact stream: renders each contact as one row of the export.
//!
//! [`super::walk`] yields every contact once, newest first; [`Rows`] turns them into cells
//! (the import field names, so that `export | import` round-trips, plus the tag column) and
//! writes them to the [`Output`]. A `verify` command or a test consumes the same stream without
//! this writer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::output::Output;
use super::tags::TagMode;
use super::tags::{Strategy, TagColumn};
use super::walk::Walker;
use crate::api::Contact;
use crate::exit::Fatal;

/// The import field names, so that `export | import` round-trips; the tag column follows.
pub const COLUMNS: [&str; 7] = [
    "id",
    "email",
    "first_name",
    "last_name",
    "email_marketing",
    "gdpr",
    "created_at",
];

/// Why a walk ended early.
#[derive(Debug)]
pub enum Stop {
    Fatal(Fatal),
    /// The reader of stdout went away (`| head`): not an error, exit 0.
    Closed,
}

impl From<Fatal> for Stop {
    fn from(f: Fatal) -> Stop {
        Stop::Fatal(f)
    }
}

/// Live counters for the progress display and the summary: rows written here, pages read
/// and repeated ids skipped by the walk.
#[derive(Debug, Default)]
pub struct Progress {
    pub rows: AtomicU64,
    pub pages: AtomicU64,
    pub duplicates: AtomicU64,
}

impl Progress {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What an incremental run with `--with-tags` needs to read its new contacts' tags.
pub struct DeltaTags<'a> {
    pub client: &'a Arc<crate::api::client::Client>,
    pub mode: TagMode,
    /// What the last full read cost (from the state file).
    pub recorded: Option<u64>,
    pub window: usize,
    pub ui: &'a crate::ui::Ui,
}

/// Streams the walk into `rows`. An incremental run with tags collects its delta first: its
/// size decides how the tags are read (`tags::for_delta`), and a delta is small.
pub async fn drain(
    walker: &mut Walker,
    rows: &mut Rows,
    delta_tags: Option<DeltaTags<'_>>,
) -> Result<(), Stop> {
    let Some(t) = delta_tags else {
        while let Some(batch) = walker.next_batch().await? {
            rows.fill_custom(&batch).await?;
            for contact in &batch {
                rows.write(contact)?;
            }
        }
        return Ok(());
    };
    let mut delta = Vec::new();
    while let Some(batch) = walker.next_batch().await? {
        delta.extend(batch);
    }
    rows.fill_custom(&delta).await?;
    let column =
        super::tags::for_delta(t.client, t.mode, &delta, t.recorded, t.window, t.ui).await?;
    rows.set_tags(column);
    for contact in &delta {
        rows.write(contact)?;
    }
    Ok(())
}

/// How the tag column was read.
#[derive(Debug, Clone, Copy)]
pub struct TagStats {
    pub tags: u64,
    pub memberships: u64,
    pub requests: u64,
    pub strategy: Strategy,
}

/// Renders and writes contacts in the order the walk yields them.
pub struct Rows {
    out: Output,
    tags: Option<TagColumn>,
    /// `--with-custom-fields`: one column per field after the tag column.
    pub custom: Option<super::custom::CustomColumns>,
    pub progress: Arc<Progress>,
    cells: Vec<String>,
}

impl Rows {
    pub fn new(out: Output, tags: Option<TagColumn>, progress: Arc<Progress>) -> Rows {
        Rows {
            out,
            tags,
            custom: None,
            progress,
            cells: Vec::with_capacity(COLUMNS.len() + 1),
        }
    }

    /// The tag column of an incremental run, known only once its new contacts are.
    pub fn set_tags(&mut self, tags: TagColumn) {
        self.tags = Some(tags);
    }

    /// What reading the tags cost, for the summary.
    pub fn tag_stats(&self) -> Option<TagStats> {
        self.tags.as_ref().map(|t| TagStats {
            tags: t.tags,
            memberships: t.memberships,
            requests: t.requests,
            strategy: t.strategy,
        })
    }

    /// Reads the custom values of a batch before its rows are written (one request each).
    pub async fn fill_custom(&mut self, batch: &[Contact]) -> Result<(), Stop> {
        match &mut self.custom {
            Some(custom) => Ok(custom.fill(batch).await?),
            None => Ok(()),
        }
    }

    /// Writes one contact; a reader of stdout that went away is [`Stop::Closed`].
    pub fn write(&mut self, contact: &Contact) -> Result<(), Stop> {
        self.render(contact);
        self.out.write_row(&self.cells).map_err(|e| {
            if crate::files::broken_pipe(&e) {
                Stop::Closed
            } else {
                Stop::Fatal(Fatal::after_send(format!("writing the export: {e}")))
            }
        })?;
        self.progress.rows.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn render(&mut self, c: &Contact) {
        let flag = |b: bool| if b { "true" } else { "false" }.to_string();
        self.cells.clear();
        self.cells.extend([
            c.id.to_string(),
            c.email.clone(),
            c.first_name.clone().unwrap_or_default(),
            c.last_name.clone().unwrap_or_default(),
            flag(c.email_marketing),
            flag(c.gdpr),
            c.created_at.clone().unwrap_or_default(),
        ]);
        if let Some(tags) = &self.tags {
            self.cells.push(tags.cell(c.id));
        }
        if let Some(custom) = &mut self.custom {
            self.cells.extend(custom.take_cells(c.id));
        }
    }

    pub fn into_output(self) -> Output {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::output::Target;

    fn contact(id: u64) -> Contact {
        Contact {
            id,
            email: format!("c{id}@example.com"),
            first_name: Some("Ann".into()),
            last_name: None,
            email_marketing: true,
            gdpr: false,
            created_at: Some("2024-01-01T09:00:00.000000Z".into()),
            tags: None,
            sequences: None,
        }
    }

    #[test]
    fn rows_are_rendered_in_the_order_given() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.csv");
        let out = Output::create(&Target::Path(path.clone()), false, b',', &COLUMNS).unwrap();
        let progress = Arc::new(Progress::default());
        let mut rows = Rows::new(out, None, Arc::clone(&progress));
        for id in [3, 2, 1] {
            rows.write(&contact(id)).unwrap();
        }
        rows.into_output().finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let ids: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        assert_eq!(ids, ["3", "2", "1"]);
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "3,c3@example.com,Ann,,true,false,2024-01-01T09:00:00.000000Z"
        );
        assert_eq!(Progress::get(&progress.rows), 3);
    }
}
