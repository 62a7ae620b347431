//! The interactive REPL: rustyline for editing, history, completion and hints; [`Session`] for the rest.
//!
//! Completion, hints and help come from the connected server's `COMMAND DOCS` (fetched once, when the
//! REPL connects), so against a Redis with commands TinyKV lacks (`LPUSH`, `ZADD`) those complete and
//! hint too; offline, or for what the server does not document, from `tinykv_proto::COMMANDS`, the table
//! TinyKV's server checks arity against. Reading a line blocks in rustyline; each command then runs on
//! the current-thread runtime.

use std::borrow::Cow;
use std::path::PathBuf;

use anyhow::Context as _;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hint, Hinter};
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Context, Editor, Helper, Validator};
use tinykv_proto::table::{lookup, CommandSpec};
use tinykv_proto::COMMANDS;
use tokio::runtime::Runtime;

use crate::args;
use crate::help::{DocEntry, Docs};
use crate::session::Session;

/// Words the REPL itself understands; completed along with the server's commands.
const REPL_WORDS: &[&str] = &["HELP", "EXIT", "QUIT", "CLEAR"];

/// How many lines of history are kept.
const HISTORY_SIZE: usize = 1000;

/// Grey, for hints: visible, but plainly not part of the line.
const GREY: &str = "\x1b[90m";
const RESET: &str = "\x1b[0m";

/// Runs the REPL until `quit`, `exit` or Ctrl-D; returns the session for its final flush.
pub fn run(runtime: &Runtime, mut session: Session, history: Option<PathBuf>) -> anyhow::Result<Session> {
    let config = Config::builder()
        .max_history_size(HISTORY_SIZE)
        .context("history size")?
        .history_ignore_dups(true)
        .context("history settings")?
        .auto_add_history(false)
        .completion_type(CompletionType::Circular)
        .build();
    let mut editor: Editor<ReplHelper, FileHistory> =
        Editor::with_config(config).context("starting the line editor")?;
    editor.set_helper(Some(ReplHelper { docs: session.docs() }));
    if let Some(path) = &history {
        // A missing file is the normal first run; an unreadable one is not worth stopping for.
        let _ = editor.load_history(path);
    }

    runtime.block_on(async {
        session.connect().await;
        session.fetch_docs().await;
    });
    loop {
        // Before each prompt: anything the server sent unasked, and its documentation once connected.
        runtime.block_on(async {
            session.check().await;
            session.fetch_docs().await;
        });
        let prompt = prompt(&session);
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(err) => return Err(err).context("reading a line"),
        };
        if line.trim().is_empty() {
            continue;
        }
        if !is_sensitive(&line) {
            let _ = editor.add_history_entry(line.as_str());
            if let Some(path) = &history {
                // Saved as we go, so a killed REPL keeps its history.
                if let Err(err) = editor.append_history(path) {
                    session.printer.problem(format!("Could not save history to {}: {err}", path.display()));
                }
            }
        }
        let words = match args::split(line.as_bytes()) {
            Ok(words) => words,
            Err(err) => {
                session.printer.problem(format_args!("Invalid argument(s): {err}"));
                continue;
            }
        };
        let Some(first) = words.first() else { continue };
        let name = String::from_utf8_lossy(first).to_ascii_lowercase();
        match name.as_str() {
            "quit" | "exit" => break,
            "help" | "?" => {
                let topic: Vec<String> = words[1..].iter().map(|w| String::from_utf8_lossy(w).into_owned()).collect();
                let text = runtime.block_on(session.help(&topic));
                session.printer.text(&text);
                session.printer.flush();
            }
            "clear" => editor.clear_screen().context("clearing the screen")?,
            _ => {
                runtime.block_on(async {
                    // Notice a connection that died while the user typed: reconnecting before sending is safe.
                    session.check().await;
                    session.run(&words).await;
                });
            }
        }
    }
    Ok(session)
}

/// `127.0.0.1:4040> `, with the database when it is not 0 (`127.0.0.1:4040[3]> `), as redis-cli shows it;
/// `not connected> ` when the server is gone.
fn prompt(session: &Session) -> String {
    if !session.is_connected() {
        return "not connected> ".to_owned();
    }
    let target = session.target();
    match target.db {
        0 => format!("{target}> "),
        db => format!("{target}[{db}]> "),
    }
}

/// Whether a line carries a password (`AUTH`, `HELLO ... AUTH`) and so stays out of the history file.
fn is_sensitive(line: &str) -> bool {
    let mut words = line.split_whitespace().map(str::to_ascii_lowercase);
    match words.next().as_deref() {
        Some("auth") => true,
        Some("hello") => words.any(|word| word == "auth"),
        _ => false,
    }
}

/// rustyline's helper: completion, hints and their colour from the server's documentation and the
/// command table.
#[derive(Helper, Validator)]
pub struct ReplHelper {
    /// The server's `COMMAND DOCS` once fetched (empty until then, or offline).
    docs: Docs,
}

impl ReplHelper {
    fn docs(&self) -> &[DocEntry] {
        self.docs.get().map(Vec::as_slice).unwrap_or_default()
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        Ok(complete(&line[..pos], self.docs()))
    }
}

impl Hinter for ReplHelper {
    type Hint = ArgHint;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<ArgHint> {
        // Only at the end of the line: a hint in the middle would cover what follows.
        (pos == line.len()).then(|| hint(line, self.docs())).flatten().map(ArgHint)
    }
}

impl Highlighter for ReplHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("{GREY}{hint}{RESET}"))
    }
}

/// The argument syntax shown after the cursor. It only shows: Right arrow does not insert it, since
/// `key value [NX|XX]` is a description, not text to send.
pub struct ArgHint(String);

impl Hint for ArgHint {
    fn display(&self) -> &str {
        &self.0
    }

    fn completion(&self) -> Option<&str> {
        None
    }
}

/// Completes the word before the cursor: a command name first, then a container's subcommand
/// (`client se` → `client setname`), from TinyKV's table and the server's `docs` (each name once).
/// Names come back in lower case if the user typed lower case, else upper.
fn complete<'a>(before: &str, docs: &'a [DocEntry]) -> (usize, Vec<Pair>) {
    let start = before.rfind(|c: char| c.is_ascii_whitespace()).map_or(0, |i| i + 1);
    let prefix = &before[start..];
    let earlier: Vec<&str> = before[..start].split_ascii_whitespace().collect();
    let mut names: Vec<&'a str> = Vec::new();
    let mut add = |name: &'a str| {
        if !names.iter().any(|known| known.eq_ignore_ascii_case(name)) {
            names.push(name);
        }
    };
    match earlier.as_slice() {
        [] => {
            COMMANDS.iter().for_each(|spec| add(spec.name));
            docs.iter().filter(|doc| !doc.name.contains(' ')).for_each(|doc| add(&doc.name));
            REPL_WORDS.iter().for_each(|word| add(word));
        }
        [command] => {
            if let Some(spec) = lookup(command.as_bytes()) {
                spec.subcommands.iter().for_each(|sub| add(sub.name));
            }
            docs.iter()
                .filter_map(|doc| doc.name.split_once(' '))
                .filter(|(parent, _)| parent.eq_ignore_ascii_case(command))
                .for_each(|(_, sub)| add(sub));
        }
        _ => {}
    }
    let lower = prefix.chars().any(|c| c.is_ascii_lowercase());
    let candidates = names
        .into_iter()
        .filter(|name| name.len() >= prefix.len() && name.is_char_boundary(prefix.len()))
        .filter(|name| name[..prefix.len()].eq_ignore_ascii_case(prefix))
        .map(|name| {
            let name = if lower { name.to_ascii_lowercase() } else { name.to_owned() };
            Pair { display: name.clone(), replacement: name }
        })
        .collect();
    (start, candidates)
}

/// The arguments still to type for the command on `line`, or `None` if it names no known command.
///
/// ```text
/// "set"          -> " key value [NX|XX] ..."
/// "set "         -> "key value [NX|XX] ..."
/// "set k "       -> "value [NX|XX] ..."
/// "set k v nx "  -> "[GET] [EX seconds|...]"
/// "del a b "     -> "[key ...]"
/// "client setn"  -> None (not a subcommand yet)
/// ```
fn hint(line: &str, docs: &[DocEntry]) -> Option<String> {
    let words: Vec<&str> = line.split_ascii_whitespace().collect();
    let (first, rest) = words.split_first()?;
    let (syntax, typed) = documented(first, rest, docs).or_else(|| tabled(first, rest))?;
    let remaining = skip_typed(syntax, typed);
    if remaining.is_empty() {
        return None;
    }
    let space = if line.ends_with(|c: char| c.is_ascii_whitespace()) { "" } else { " " };
    Some(format!("{space}{remaining}"))
}

/// The syntax of the command (or subcommand) typed, and how many of its arguments were typed, from the
/// server's documentation.
fn documented<'a>(first: &str, rest: &[&str], docs: &'a [DocEntry]) -> Option<(&'a str, usize)> {
    if let Some((sub, after)) = rest.split_first() {
        let is_sub = |doc: &&DocEntry| {
            doc.name
                .split_once(' ')
                .is_some_and(|(parent, name)| parent.eq_ignore_ascii_case(first) && name.eq_ignore_ascii_case(sub))
        };
        if let Some(doc) = docs.iter().find(is_sub) {
            return Some((&doc.params, after.len()));
        }
    }
    let doc = docs.iter().find(|doc| doc.name.eq_ignore_ascii_case(first))?;
    Some((&doc.params, rest.len()))
}

/// The same from TinyKV's table, for a command the server did not document (or offline).
fn tabled(first: &str, rest: &[&str]) -> Option<(&'static str, usize)> {
    let spec = lookup(first.as_bytes())?;
    match rest.split_first() {
        Some((sub, after)) if !spec.subcommands.is_empty() => {
            let sub: &CommandSpec = spec.subcommand(sub.as_bytes())?;
            Some((sub.args, after.len()))
        }
        _ => Some((spec.args, rest.len())),
    }
}

/// Drops one argument of `syntax` per word typed, `[optional]` ones included, but keeps a repeating
/// `[key ...]` (the user may always add one more).
fn skip_typed(syntax: &str, typed: usize) -> String {
    let tokens = tokens(syntax);
    let repeating = tokens.iter().position(|token| token.contains("..."));
    let skip = typed.min(repeating.unwrap_or(tokens.len()));
    tokens[skip..].join(" ")
}

/// Splits argument syntax at the spaces outside brackets: `key [EX s|PX ms]` → `key`, `[EX s|PX ms]`.
fn tokens(syntax: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in syntax.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ' ' if depth == 0 => {
                if i > start {
                    tokens.push(&syntax[start..i]);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if syntax.len() > start {
        tokens.push(&syntax[start..]);
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completions(before: &str) -> Vec<String> {
        complete(before, &[]).1.into_iter().map(|pair| pair.replacement).collect()
    }

    #[test]
    fn completes_command_names_in_the_case_typed() {
        let got = completions("se");
        assert_eq!(got.first().map(String::as_str), Some("set"));
        assert!(got.contains(&"setnx".to_owned()) && got.contains(&"select".to_owned()), "{got:?}");
        assert!(got.iter().all(|name| name.starts_with("se")));
        assert_eq!(completions("GETD"), ["GETDEL"]);
        assert_eq!(complete("  ge", &[]).0, 2);
        assert!(completions("zz").is_empty());
    }

    #[test]
    fn completes_subcommands() {
        assert_eq!(completions("client setn"), ["setname"]);
        assert_eq!(complete("client setn", &[]).0, 7);
        assert!(completions("get foo ba").is_empty());
    }

    #[test]
    fn hints_show_what_is_left_to_type() {
        let set = lookup(b"set").unwrap().args;
        assert_eq!(hint("set", &[]).unwrap(), format!(" {set}"));
        assert_eq!(hint("set ", &[]).unwrap(), set);
        assert!(hint("SET k ", &[]).unwrap().starts_with("value [NX|XX]"));
        assert!(hint("set k v ", &[]).unwrap().starts_with("[NX|XX] [GET] [EX seconds|"));
        assert!(hint("set k v nx ", &[]).unwrap().starts_with("[GET] [EX seconds|"));
        assert_eq!(hint("del a b ", &[]).as_deref(), Some("[key ...]"));
        assert_eq!(hint("del a", &[]).as_deref(), Some(" [key ...]"));
        assert_eq!(hint("hello 3 ", &[]), None);
        assert_eq!(hint("get k", &[]), None);
        assert_eq!(hint("nosuch ", &[]), None);
        assert_eq!(hint("", &[]), None);
        assert_eq!(hint("client setname ", &[]).as_deref(), Some("connection-name"));
    }

    fn doc(name: &str, params: &str) -> DocEntry {
        DocEntry {
            name: name.to_owned(),
            params: params.to_owned(),
            summary: String::new(),
            since: String::new(),
            group: String::new(),
        }
    }

    #[test]
    fn the_servers_docs_add_commands_the_table_lacks() {
        let docs = [
            doc("LPUSH", "key element [element ...]"),
            doc("LPUSHX", "key element [element ...]"),
            doc("SET", "key value [NX|XX]"),
            doc("XINFO", ""),
            doc("XINFO STREAM", "key [FULL [COUNT count]]"),
        ];
        let got: Vec<String> = complete("lpu", &docs).1.into_iter().map(|pair| pair.replacement).collect();
        assert_eq!(got, ["lpush", "lpushx"]);
        // A command in both is offered once.
        let sets = complete("SET", &docs).1.into_iter().filter(|pair| pair.replacement == "SET").count();
        assert_eq!(sets, 1);
        let subs: Vec<String> = complete("xinfo st", &docs).1.into_iter().map(|pair| pair.replacement).collect();
        assert_eq!(subs, ["stream"]);
        // Hints: the server's syntax first, the table's for what it does not document.
        assert_eq!(hint("lpush k ", &docs).as_deref(), Some("element [element ...]"));
        assert_eq!(hint("set k ", &docs).as_deref(), Some("value [NX|XX]"));
        assert_eq!(hint("xinfo stream ", &docs).as_deref(), Some("key [FULL [COUNT count]]"));
        assert_eq!(hint("del a", &docs).as_deref(), Some(" [key ...]"));
    }

    #[test]
    fn argument_syntax_splits_outside_brackets() {
        assert_eq!(tokens("key [EX s|PX ms] [GET]"), ["key", "[EX s|PX ms]", "[GET]"]);
        assert_eq!(tokens("[protover [AUTH u p] [SETNAME n]]"), ["[protover [AUTH u p] [SETNAME n]]"]);
        assert!(tokens("").is_empty());
    }

    #[test]
    fn passwords_stay_out_of_history() {
        assert!(is_sensitive("AUTH secret"));
        assert!(is_sensitive("hello 3 auth default secret"));
        assert!(!is_sensitive("set auth x"));
        assert!(!is_sensitive("hello 3"));
    }
}
