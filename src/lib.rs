//! wolfeo-bulk: moves contacts between CSV files and the Wolfeo API.
//!
//! The binary is a thin shell over [`run`]. Modules, by concern:
//! [`cli`] (flags -> validated config), [`csv_in`] and [`mapping`] (reading hostile CSV,
//! headers -> fields), [`validate`] (the API's rules, shared with the sandbox), [`api`] (wire
//! format, client, retry policy), [`limiter`] (the one pacer) and
//! [`budget`] (its schedule, shared by the processes of one account), [`import`] and [`export`]
//! (one module per subcommand), [`results`] (outcomes and the files that record them),
//! [`sandbox`] (the local imitation of the API), [`ui`] and [`summary`] (what the user sees).

pub mod accounts;
pub mod api;
pub mod budget;
pub mod cli;
pub mod csv_in;
pub mod exit;
pub mod export;
pub mod files;
pub mod generate;
pub mod import;
pub mod limiter;
pub mod mapping;
pub mod results;
pub mod sandbox;
pub mod secret;
pub(crate) mod session;
pub mod shutdown;
pub mod summary;
pub mod text;
pub mod ui;
pub mod units;
pub mod validate;
pub mod verify;

use cli::{Cli, Command};
use exit::{Exit, Fatal};

/// Runs one command to completion and says how the process should exit.
pub fn run(cli: Cli) -> Result<Exit, Fatal> {
    let ui = ui::Ui::new(cli.quiet, cli.verbose);
    match cli.command {
        Command::Sandbox(args) => sandbox::run(&args, cli.verbose > 0)
            .map(|_| Exit::Ok)
            .map_err(|e| Fatal::usage(format!("sandbox: {e:#}"))),
        Command::Completions(args) => generate::completions(&args).map(|()| Exit::Ok),
        Command::Man(args) => generate::man(&args).map(|()| Exit::Ok),
        Command::Import(args) => on_runtime(import::run(args, ui)),
        // Export is network-bound (a page per 100 ms), so polling it from main costs nothing.
        Command::Export(args) => runtime()?.block_on(export::run(args, ui)),
        // Verify is network-bound like export (and reuses export's tag read, whose futures
        // are not `Send` across every lifetime a spawned task needs).
        Command::Verify(args) => runtime()?.block_on(verify::run(args, ui)),
    }
}

/// Runs a command as a task on the worker threads. Polled from `block_on` instead, the whole
/// pipeline would live on the main thread and every response would have to wake it (measured:
/// a third of import's CPU at 10,000 rows/s went to those wake-ups).
fn on_runtime(
    command: impl std::future::Future<Output = Result<Exit, Fatal>> + Send + 'static,
) -> Result<Exit, Fatal> {
    let runtime = runtime()?;
    let task = runtime.spawn(command);
    runtime
        .block_on(task)
        .map_err(|e| Fatal::usage(format!("internal error: {e}")))?
}

/// One worker thread. Everything a command does on the runtime is waiting on the network (the
/// rows are read and planned on a thread of their own, a dry run on blocking threads), so a
/// second worker only adds wake-ups handed between cores: against a local sandbox sharing two
/// cores, one worker imported 10-25 % more rows a second at 64 in flight (37.1k against
/// 31.0k, 34.1k against 26.9k, 38.5k against 33.8k, 37.4k against 32.9k, interleaved).
fn runtime() -> Result<tokio::runtime::Runtime, Fatal> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Fatal::usage(format!("cannot start the async runtime: {e}")))
}
