//! The `wolfeo-bulk` binary: parse, run, map the result to an exit code, print an error once.

use clap::Parser;
use wolfeo_bulk::cli::Cli;

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
