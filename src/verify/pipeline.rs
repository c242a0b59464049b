//! The `pipeline` step of verify: file rows -> verdicts -> the verify file, then `--extra`.
//!
//! Rows come from import's reader thread with import's [`Planner`] (mapping, validation,
//! in-file duplicates: what import would send for each row, and what it would refuse); each
//! row to check becomes a future ([`Reading::check`]) and up to `window` run at once, in input
//! order (`buffered`), so the verify file lists rows as the input does and memory is bounded
//! by the window. One consumer writes the file, counts the verdicts and marks which contacts
//! of the account a row mentioned; `--extra` then writes the others, in export's columns.
//! Both files are written beside their target and renamed into place when complete
//! (export's [`Output`]): an interrupted verify leaves no partial report behind.

use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::mpsc;

use super::compare::Expected;
use super::outcome::{Checked, Counts};
use super::plan::Plan;
use super::read::Reading;
use crate::api::client::Client;
use crate::csv_in::{self, CsvInput};
use crate::exit::Fatal;
use crate::export::output::{Output, Target, Written};
use crate::export::writer::{COLUMNS as EXPORT_COLUMNS, Progress, Rows, Stop};
use crate::import::plan::{Job, Planner, Work, spawn_reader};
use crate::shutdown::Shutdown;

/// The columns verify adds after the input's.
pub const COLUMNS: [&str; 4] = ["_row", "_verify", "_contact_id", "_diff"];

/// What the pipeline wrote (`None` from [`run`]: standard output was closed by its reader).
pub struct Wrote {
    pub verify: Written,
    /// Rows of `--extra`, when asked for.
    pub extra: Option<u64>,
}

pub async fn run(
    plan: &Plan,
    input: CsvInput,
    reading: &mut Reading,
    client: &Arc<Client>,
    shutdown: &Arc<Shutdown>,
    counts: &Counts,
    window: usize,
) -> Result<Option<Wrote>, Fatal> {
    let mut header: Vec<&str> = plan.headers.iter().map(String::as_str).collect();
    header.extend(COLUMNS);
    let out = Output::create(&target(&plan.output), false, b',', &header)
        .map_err(|e| write_fatal("--output", &plan.output, e))?;
    let rows = RowChecks {
        plan,
        reading,
        client,
        counts,
        window,
    };
    let Some((out, mentioned)) = rows.check(input, out, shutdown).await? else {
        return Ok(None);
    };
    let verify = match out.finish() {
        Ok(written) => written,
        Err(e) if crate::files::broken_pipe(&e) => return Ok(None),
        Err(e) => return Err(write_fatal("--output", &plan.output, e)),
    };
    let extra = match &plan.extra {
        Some(path) => Some(write_extra(path, reading, &mentioned)?),
        None => None,
    };
    Ok(Some(Wrote { verify, extra }))
}

/// What checking the rows needs; the account is only read here.
struct RowChecks<'a> {
    plan: &'a Plan,
    reading: &'a Reading,
    client: &'a Arc<Client>,
    counts: &'a Counts,
    window: usize,
}

impl RowChecks<'_> {
    /// Every row to its verdict, written in input order; which contacts the rows mentioned.
    async fn check(
        &self,
        input: CsvInput,
        mut out: Output,
        shutdown: &Arc<Shutdown>,
    ) -> Result<Option<(Output, Vec<bool>)>, Fatal> {
        let plan = self.plan;
        let mut mentioned = vec![false; self.reading.stream.as_ref().map_or(0, |s| s.index.len())];
        let planner = Planner::new(
            plan.mapping.clone(),
            plan.headers.clone(),
            None,
            None,
            false,
        );
        let (tx, mut rx) = mpsc::channel::<Vec<Result<Job, csv_in::InputError>>>(16);
        let reader = spawn_reader(input, planner, tx, Arc::clone(shutdown), false);
        let width = plan.headers.len();
        let checks = futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
            .flat_map(futures::stream::iter)
            .map(|item| self.one(item))
            .buffered(self.window.max(1));
        futures::pin_mut!(checks);
        let mut line = Vec::with_capacity(width + COLUMNS.len());
        while let Some(done) = checks.next().await {
            let (row, mut cells, checked) = done?;
            if let Some(ordinal) = checked.ordinal {
                mentioned[ordinal as usize] = true;
            }
            self.counts.add(checked.verdict);
            cells.resize(width, String::new());
            line.clear();
            line.append(&mut cells);
            line.extend([
                row.to_string(),
                checked.verdict.as_str().to_string(),
                checked
                    .contact_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                checked.diff,
            ]);
            match out.write_row(&line) {
                Ok(()) => {}
                // `-o - | head`: the reader has seen what it wanted; stop quietly (exit 0).
                Err(e) if crate::files::broken_pipe(&e) => return Ok(None),
                Err(e) => return Err(write_fatal("--output", &plan.output, e)),
            }
        }
        let _ = reader.join();
        Ok(Some((out, mentioned)))
    }

    /// One row read by import's planner to its verdict.
    async fn one(
        &self,
        item: Result<Job, csv_in::InputError>,
    ) -> Result<(u64, Vec<String>, Checked), Fatal> {
        let Job { row, cells, work } = item?;
        let checked = match work {
            Work::Send(payload) => {
                let (plan, strict) = (self.plan, self.plan.strict);
                let want = Expected::read(&payload.body, &cells, &plan.mapping, strict);
                self.reading.check(self.client, row, &want, strict).await?
            }
            Work::Done(outcome) | Work::Settled(outcome) => Checked::from_import(&outcome),
        };
        Ok((row, cells, checked))
    }
}

/// The contacts no row mentioned, newest first, in export's columns (and its tag column when
/// the file has one), so the file can be imported elsewhere as it is.
fn write_extra(path: &Path, reading: &mut Reading, mentioned: &[bool]) -> Result<u64, Fatal> {
    let Some(stream) = reading.stream.as_mut() else {
        return Err(Fatal::after_send("--extra needs the whole account read"));
    };
    let tags = stream.tags.take();
    let mut header: Vec<&str> = EXPORT_COLUMNS.to_vec();
    header.extend(tags.as_ref().map(|t| t.header()));
    let out = Output::create(&target(path), false, b',', &header)
        .map_err(|e| write_fatal("--extra", path, e))?;
    let mut rows = Rows::new(out, tags, Arc::new(Progress::default()));
    let mut written = 0u64;
    for (ordinal, _) in mentioned.iter().enumerate().filter(|(_, m)| !**m) {
        let contact = stream
            .index
            .read(ordinal as u32)
            .map_err(|e| Fatal::after_send(format!("the account's temporary copy: {e}")))?;
        rows.write(&contact).map_err(|stop| match stop {
            Stop::Fatal(f) => f,
            Stop::Closed => Fatal::after_send(format!("--extra {}: closed", path.display())),
        })?;
        written += 1;
    }
    rows.into_output()
        .finish()
        .map_err(|e| write_fatal("--extra", path, e))?;
    Ok(written)
}

fn target(path: &Path) -> Target {
    match path.as_os_str() == crate::files::STDOUT {
        true => Target::Stdout,
        false => Target::Path(path.to_path_buf()),
    }
}

fn write_fatal(label: &str, path: &Path, e: std::io::Error) -> Fatal {
    Fatal::after_send(format!("{label} {}: {e}", path.display()))
}
