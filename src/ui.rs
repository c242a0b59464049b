//! Everything the user sees on stderr: messages, the progress bar, plain progress lines.
//!
//! One factory decides the mode once: a live indicatif bar when stderr is a terminal, one plain
//! line every 10 s otherwise (cron logs get no escape codes), nothing with `-q`. Data never goes
//! here; it goes to files or stdout. Text that may quote CSV cells is passed through
//! [`crate::csv_in::sanitize_for_message`] by the callers.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Quiet,
    Plain,
    Bar,
}

pub struct Ui {
    mode: Mode,
    verbose: u8,
    /// The live bar while a [`Reporter`] runs: every message is printed through it, so no
    /// line is ever drawn across the bar.
    bar: Arc<Mutex<Option<ProgressBar>>>,
}

impl Ui {
    pub fn new(quiet: bool, verbose: u8) -> Arc<Ui> {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Plain
        };
        Arc::new(Ui {
            mode,
            verbose,
            bar: Arc::new(Mutex::new(None)),
        })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// A normal message (start-up facts, the summary). Silent with `-q`.
    pub fn info(&self, msg: &str) {
        if self.mode != Mode::Quiet {
            self.print(msg);
        }
    }

    /// Something the user should act on. Silent with `-q` too: the exit code still tells.
    pub fn warn(&self, msg: &str) {
        self.info(msg);
    }

    /// `-v` detail: one line per request. Never contains the key (see `api::client`).
    pub fn debug(&self, msg: &str) {
        if self.verbose > 0 && self.mode != Mode::Quiet {
            self.print(msg);
        }
    }

    pub fn verbose(&self) -> u8 {
        self.verbose
    }

    fn print(&self, msg: &str) {
        // Cloned out of the lock: a bar is a handle, and printing must not hold the lock.
        let bar = self.bar.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match bar {
            Some(bar) if !bar.is_hidden() => bar.suspend(|| eprintln!("{msg}")),
            _ => eprintln!("{msg}"),
        }
    }
}

/// A snapshot of a run for the progress display.
pub struct Status {
    pub done: u64,
    /// e.g. "created 10 · exists 2 · invalid 1"
    pub detail: String,
    /// Remaining 429 pause, shown instead of the rate while it lasts.
    pub paused: Option<Duration>,
}

/// Drives the bar or the plain lines from a status callback until [`Reporter::finish`].
pub struct Reporter {
    bar: ProgressBar,
    slot: Arc<Mutex<Option<ProgressBar>>>,
    task: tokio::task::JoinHandle<()>,
}

pub const PLAIN_INTERVAL: Duration = Duration::from_secs(10);

impl Reporter {
    pub fn start(
        ui: &Ui,
        label: &'static str,
        unit: &'static str,
        total: Option<u64>,
        status: impl Fn() -> Status + Send + 'static,
    ) -> Reporter {
        let bar = match ui.mode {
            Mode::Bar => {
                let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
                // The message takes what the terminal width leaves and is cut, never wrapped;
                // without a known total (standard input) a spinner and a count, not an empty bar.
                let template = match total {
                    Some(_) => {
                        format!("{{spinner}} {label} [{{bar:12}}] {{pos}}/{{len}} · {{wide_msg}}")
                    }
                    None => format!("{{spinner}} {label} {{pos}} {unit} · {{wide_msg}}"),
                };
                bar.set_style(
                    ProgressStyle::with_template(&template)
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            }
            _ => ProgressBar::hidden(),
        };
        *ui.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
        let tick = if ui.mode == Mode::Bar {
            Duration::from_millis(200)
        } else {
            PLAIN_INTERVAL
        };
        let mode = ui.mode;
        let task_bar = bar.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut interval = tokio::time::interval(tick);
            interval.tick().await;
            loop {
                interval.tick().await;
                let s = status();
                let elapsed = started.elapsed().as_secs_f64().max(0.001);
                let rate = s.done as f64 / elapsed;
                let tail = match s.paused {
                    Some(p) => format!("PAUSED by 429 for {}s", p.as_secs() + 1),
                    None => format!("{rate:.1} {unit}/s{}", eta(total, s.done, rate)),
                };
                match mode {
                    Mode::Bar => {
                        // Short enough for 80 columns: "created 40 · invalid 6 · 9.9/s · ETA 26s".
                        let tail = tail.replace(&format!(" {unit}/s"), "/s");
                        // A total that is an estimate (a dry run's) grows to what is done.
                        if task_bar.length().is_some_and(|len| s.done > len) {
                            task_bar.set_length(s.done);
                        }
                        task_bar.set_position(s.done);
                        task_bar.set_message(format!("{} · {tail}", s.detail));
                    }
                    Mode::Plain => {
                        let of = total.map(|t| format!("/{}", t.max(s.done)));
                        let of = of.unwrap_or_default();
                        eprintln!("{label}: {}{of} {unit} · {} · {tail}", s.done, s.detail);
                    }
                    Mode::Quiet => {}
                }
            }
        });
        Reporter {
            bar,
            slot: Arc::clone(&ui.bar),
            task,
        }
    }

    pub fn finish(self) {
        self.task.abort();
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.bar.finish_and_clear();
    }
}

fn eta(total: Option<u64>, done: u64, rate: f64) -> String {
    match total {
        Some(t) if t > done && rate > 0.0 => {
            format!(
                " · ETA {}",
                human_duration(Duration::from_secs_f64((t - done) as f64 / rate))
            )
        }
        _ => String::new(),
    }
}

/// The width the opening lines keep within, so they read unwrapped on a 100-column terminal.
pub const LINE_WIDTH: usize = 100;

/// `prefix` followed by `items` joined with `, `, cut to [`LINE_WIDTH`] with a count of what was
/// left out (`... (+12 more; -v lists all)`) unless `all` (`-v`) asks for the whole list. The
/// first item is always shown, however long. Widths are counted in characters.
pub fn fit_list(prefix: &str, items: &[String], all: bool) -> String {
    fit_lines(prefix, items, all, 1)
}

/// [`fit_list`] over up to `lines` lines, the later ones indented by two spaces.
pub fn fit_lines(prefix: &str, items: &[String], all: bool, lines: usize) -> String {
    let mut out = prefix.to_string();
    let mut line_start = 0;
    let mut line_no = 1;
    for (i, item) in items.iter().enumerate() {
        let left = items.len() - i - 1;
        let more = |n: usize| format!(", ... (+{n} more; -v lists all)");
        let tail = if left == 0 { 0 } else { more(left).len() };
        let used = out[line_start..].chars().count();
        let fits = |extra: usize| used + 2 + item.chars().count() + extra <= LINE_WIDTH;
        if i == 0 || all || fits(if line_no == lines { tail } else { 0 }) {
            if i > 0 {
                out.push_str(", ");
            }
        } else if line_no < lines {
            out.push_str(",\n  ");
            line_start = out.len() - 2;
            line_no += 1;
        } else {
            out.push_str(&more(items.len() - i));
            return out;
        }
        out.push_str(item);
    }
    out
}

/// `1h 02m`, `3m 20s`, `12s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_cut_to_the_line_width_with_a_count() {
        let items: Vec<String> = (0..40).map(|i| format!("column {i}")).collect();
        let line = fit_list("not sent: ", &items, false);
        assert!(line.chars().count() <= LINE_WIDTH, "{line}");
        assert!(line.starts_with("not sent: column 0, column 1"), "{line}");
        let shown = line.matches("column ").count();
        assert!(line.ends_with(&format!(", ... (+{} more; -v lists all)", 40 - shown)));
        let all = fit_list("not sent: ", &items, true);
        assert!(all.ends_with("column 39"), "{all}");
        let short = ["a".to_string(), "b".to_string()];
        assert_eq!(fit_list("x: ", &short, false), "x: a, b");
        let long = ["é".repeat(150)];
        assert_eq!(fit_list("x: ", &long, false).chars().count(), 153);
    }

    #[test]
    fn long_lists_wrap_onto_indented_lines_before_being_cut() {
        let items: Vec<String> = (0..10).map(|i| format!("item number {i:02}")).collect();
        let text = fit_lines("mapping: ", &items, false, 3);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines.iter().all(|l| l.chars().count() <= LINE_WIDTH),
            "{text}"
        );
        assert!(lines[1].starts_with("  item number"), "{text}");
        assert!(text.ends_with("item number 09"), "{text}");
        let many: Vec<String> = (0..60).map(|i| format!("item number {i:02}")).collect();
        let text = fit_lines("mapping: ", &many, false, 3);
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(
            text.lines().all(|l| l.chars().count() <= LINE_WIDTH),
            "{text}"
        );
        assert!(text.ends_with("more; -v lists all)"), "{text}");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(Duration::from_secs(10_020)), "2h 47m");
        assert_eq!(human_duration(Duration::from_secs(200)), "3m 20s");
        assert_eq!(human_duration(Duration::from_millis(6_100)), "6.1s");
    }
}
