//! `wolfeo-bulk completions SHELL` and `wolfeo-bulk man [SUBCOMMAND]`: shell completion
//! scripts (clap_complete) and roff manual pages (clap_mangen), both generated from the one clap
//! definition in [`crate::cli`], so they cannot drift from the flags the binary accepts.
//!
//! Both print to stdout and nothing else; a closed pipe (`| head`) is a normal end, as in
//! ripgrep. The generators write into memory first because clap_complete panics on a failed
//! write. Called by [`crate::run`].

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

use crate::cli::Cli;
use crate::exit::Fatal;

const BIN: &str = "wolfeo-bulk";

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Install, for example:
  bash:  wolfeo-bulk completions bash > ~/.local/share/bash-completion/completions/wolfeo-bulk
  zsh:   wolfeo-bulk completions zsh > ~/.zfunc/_wolfeo-bulk   (with fpath+=~/.zfunc)
  fish:  wolfeo-bulk completions fish > ~/.config/fish/completions/wolfeo-bulk.fish")]
pub struct CompletionsArgs {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Install, for example:
  for p in '' import export verify sandbox completions man; do
    wolfeo-bulk man $p > ~/.local/share/man/man1/wolfeo-bulk${p:+-$p}.1
  done")]
pub struct ManArgs {
    /// A subcommand's own page (wolfeo-bulk-import(1) ...) instead of wolfeo-bulk(1).
    #[arg(value_name = "SUBCOMMAND")]
    pub page: Option<String>,
}

/// Writes the completion script for `args.shell` to stdout.
pub fn completions(args: &CompletionsArgs) -> Result<(), Fatal> {
    print(&completion_script(args.shell))
}

/// Writes one manual page to stdout.
pub fn man(args: &ManArgs) -> Result<(), Fatal> {
    print(&man_page(args.page.as_deref())?)
}

/// The completion script for one shell.
pub fn completion_script(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut out);
    out
}

/// The roff source of wolfeo-bulk(1), or of wolfeo-bulk-SUBCOMMAND(1).
pub fn man_page(page: Option<&str>) -> Result<Vec<u8>, Fatal> {
    let mut root = Cli::command().disable_help_subcommand(true);
    // Building sets each subcommand's display name to "wolfeo-bulk-import", the page's title.
    root.build();
    let cmd = match page {
        None => root.clone(),
        Some(name) => root
            .find_subcommand(name)
            .cloned()
            .ok_or_else(|| Fatal::usage(format!("man: no subcommand {name:?}; see --help")))?,
    };
    // The exit-code table gets a real EXIT STATUS section below instead of clap_mangen's
    // "EXTRA", which would run the table's lines together into one paragraph.
    let codes = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .filter(|h| h.starts_with("Exit codes"));
    let cmd = if codes.is_some() {
        cmd.after_help(None::<&str>).after_long_help(None::<&str>)
    } else {
        cmd
    };
    let mut out = Vec::new();
    Man::new(cmd)
        .render(&mut out)
        .map_err(|e| Fatal::usage(format!("man: {e}")))?;
    let mut tail = Roff::new();
    if let Some(codes) = codes {
        exit_status(&mut tail, &codes);
    }
    if page.is_none() {
        see_also(&mut tail, &root);
    }
    out.extend_from_slice(tail.to_roff().as_bytes());
    Ok(out)
}

/// One `.TP` entry per code of the command's exit-code table (its `after_help`, from
/// [`crate::exit`], the one definition); an indented line without a code continues the entry.
fn exit_status(roff: &mut Roff, table: &str) {
    roff.control("SH", ["EXIT STATUS"]);
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in table.lines().skip(1).map(str::trim) {
        let (first, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match entries.last_mut() {
            Some((_, meaning)) if first.parse::<u8>().is_err() => {
                meaning.push(' ');
                meaning.push_str(line);
            }
            _ => entries.push((first.to_string(), rest.trim().to_string())),
        }
    }
    for (code, meaning) in entries {
        roff.control("TP", []);
        roff.text([bold(code)]);
        roff.text([roman(meaning)]);
    }
}

fn see_also(roff: &mut Roff, root: &clap::Command) {
    roff.control("SH", ["SEE ALSO"]);
    let pages: Vec<String> = root
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| format!("{BIN}-{}(1)", s.get_name()))
        .collect();
    roff.text([roman(pages.join(", "))]);
}

fn print(bytes: &[u8]) -> Result<(), Fatal> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(Fatal::usage(format!("writing to standard output: {e}")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in Shell::value_variants() {
            let script = String::from_utf8(completion_script(*shell)).unwrap();
            assert!(script.contains("wolfeo-bulk"), "{shell}");
            for word in ["import", "export", "sandbox", "dry-run"] {
                assert!(script.contains(word), "{shell} script lacks {word}");
            }
        }
    }

    #[test]
    fn main_page_lists_subcommands_and_exit_codes() {
        let page = String::from_utf8(man_page(None).unwrap()).unwrap();
        assert!(page.starts_with(".ie") || page.contains(".TH wolfeo-bulk 1"));
        for word in ["import", "export", "sandbox", "completions", "EXIT STATUS"] {
            assert!(page.contains(word), "page lacks {word}");
        }
        for code in ["0", "1", "2", "3", "4", "130"] {
            assert!(
                page.contains(&format!(".TP\n\\fB{code}\\fR")),
                "no exit code {code}"
            );
        }
        assert!(page.contains("wolfeo\\-bulk\\-import(1)"));
    }

    #[test]
    fn subcommand_page_has_its_flags() {
        let page = String::from_utf8(man_page(Some("import")).unwrap()).unwrap();
        assert!(page.contains(".TH wolfeo-bulk-import 1"), "{page}");
        assert!(page.contains("dry\\-run"));
        assert!(page.contains("EXIT STATUS"));
        // A table line that wraps continues its code's entry instead of starting one.
        let exit_section = &page[page.find("EXIT STATUS").unwrap()..];
        let entries = exit_section.matches(".TP").count();
        assert_eq!(entries, 6, "{exit_section}");
        assert!(man_page(Some("nope")).is_err());
    }
}
