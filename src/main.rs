//! The `wolfeo-bulk` binary: parse, run, map the result to an exit code, print an error once.

use clap::Parser;
use wolfeo_bulk::cli::Cli;

/// mimalloc, not the system allocator: an unthrottled import spent a sixth of its CPU in
/// glibc's malloc and free (a request's headers, bodies and futures), and the sandbox
/// serving it as much.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    let code = match wolfeo_bulk::run(cli) {
        Ok(exit) => exit.code(),
        Err(fatal) => {
            eprintln!("wolfeo-bulk: {fatal}");
            fatal.exit().code()
        }
    };
    std::process::exit(code);
}
