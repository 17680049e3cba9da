//! `cutover ps`: the subset of PowerShell the migration cmdlets need, so that the seed's
//! walkthrough (`$Credentials = Get-Credential`, `New-MigrationEndpoint ...`,
//! `Get-MigrationBatch | Format-List Status`) runs as written, or adapted where cutover
//! differs (README, "PowerShell front end").
//!
//! `lexer` turns text into tokens, `parser` tokens into statements (errors carry line
//! and column), `eval` runs them (variables, pipelines, expressions), `binding` pairs a
//! command's arguments with a cmdlet's parameters, `cmdlets` maps each migration cmdlet
//! onto the same functions as the command line (`crate::commands`), `builtins` holds the
//! language's own cmdlets (Get-Credential, Format-List, Where-Object, ...), and `format`
//! prints objects the way PowerShell's default formatting does.

mod binding;
mod builtins;
mod cmdlets;
mod eval;
mod format;
mod lexer;
mod licenses;
mod parser;
mod value;

use std::fmt;
use std::io::{IsTerminal, Write};

use anyhow::Context;

use crate::Ctx;
use crate::args::PsArgs;
use eval::Shell;
use lexer::ParseError;

/// A shell run that failed after printing its errors; the process exits with `.0`.
#[derive(Debug)]
pub struct Reported(pub u8);

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the script failed (exit code {})", self.0)
    }
}

impl std::error::Error for Reported {}

/// A parse error as PowerShell prints one.
fn render_parse_error(e: &ParseError, origin: &str, source: &str) -> String {
    let mut out = format!("At {origin}:{} char:{}\n", e.pos.line, e.pos.col);
    if let Some(line) = source.lines().nth(e.pos.line.saturating_sub(1)) {
        out.push_str(&format!(
            "+ {line}\n+ {}~\n",
            " ".repeat(e.pos.col.saturating_sub(1))
        ));
    }
    out.push_str(&format!(
        "{}\n    + CategoryInfo          : ParserError: ({}, column {})\n",
        e.message, e.pos.line, e.pos.col
    ));
    out
}

/// An error as PowerShell shows it, on stderr; it may quote servers' texts.
fn eprint_safe(text: &str) {
    eprint!("{}", crate::output::terminal_safe(text));
}

fn print_output(items: &[value::Value]) -> anyhow::Result<()> {
    let text = format::default(items);
    let text = crate::output::terminal_safe(&text);
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Runs a whole script; stops at the first failed statement unless
/// `$ErrorActionPreference = 'Continue'`.
fn run_script(shell: &mut Shell<'_>, source: &str, origin: &str) -> anyhow::Result<()> {
    let statements = match parser::parse(source) {
        Ok(s) => s,
        Err(e) => {
            eprint_safe(&render_parse_error(&e, origin, source));
            return Err(Reported(2).into());
        }
    };
    let mut failed = false;
    for s in &statements {
        match shell.statement(s) {
            Ok(items) => print_output(&items)?,
            Err(e) => {
                eprint_safe(&e.render(origin, source));
                failed = true;
                if shell.stop_on_error() {
                    break;
                }
            }
        }
    }
    if failed {
        return Err(Reported(1).into());
    }
    Ok(())
}

/// The interactive shell (stdin is a terminal): one statement at a time, more lines
/// while it is incomplete, with line editing and history. Ctrl-C drops the statement
/// being typed; Ctrl-D or `exit` leaves.
fn interactive(shell: &mut Shell<'_>) -> anyhow::Result<()> {
    use rustyline::error::ReadlineError;
    println!(
        "cutover PowerShell front end: the migration cmdlets (Get-Command lists them); exit to leave."
    );
    let mut editor = rustyline::DefaultEditor::new().context("cannot open the terminal")?;
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() {
            "PS cutover> "
        } else {
            ">> "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                pending.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e).context("cannot read the input"),
        };
        if pending.is_empty() && line.trim().eq_ignore_ascii_case("exit") {
            break;
        }
        pending.push_str(&line);
        pending.push('\n');
        let statements = match parser::parse(&pending) {
            Ok(s) => s,
            Err(e) if e.incomplete && !line.trim().is_empty() => continue,
            Err(e) => {
                eprint_safe(&render_parse_error(&e, "line", &pending));
                let _ = editor.add_history_entry(pending.trim_end());
                pending.clear();
                continue;
            }
        };
        let _ = editor.add_history_entry(pending.trim_end());
        for s in &statements {
            match shell.statement(s) {
                Ok(items) => print_output(&items)?,
                Err(e) => {
                    eprint_safe(&e.render("line", &pending));
                    break;
                }
            }
        }
        pending.clear();
    }
    Ok(())
}

/// `cutover ps [-c COMMANDS | FILE.ps1]`.
pub async fn run(ctx: &Ctx, args: PsArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Handle::current();
    // The evaluator is synchronous and waits for the command code on this runtime;
    // block_in_place keeps the runtime's other tasks going meanwhile.
    tokio::task::block_in_place(|| {
        let mut shell = Shell::new(ctx, rt);
        if let Some(commands) = &args.command {
            return run_script(&mut shell, commands, "line");
        }
        if let Some(path) = &args.file {
            let source = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the script {}", path.display()))?;
            return run_script(&mut shell, &source, &path.display().to_string());
        }
        if !std::io::stdin().is_terminal() {
            let mut source = String::new();
            std::io::stdin()
                .lock()
                .read_to_string(&mut source)
                .context("cannot read the script from stdin")?;
            return run_script(&mut shell, &source, "line");
        }
        interactive(&mut shell)
    })
}

use std::io::Read as _;
