//! The REPL's `help`, written from the shared command table so it can never disagree with the server, and,
//! for what the table lacks (`help hset` against a Redis), from the connected server's `COMMAND DOCS`.
//!
//! ```text
//! help                 the command list, by group
//! help set             syntax, summary, since and group of SET
//! help client setname  the same for a subcommand
//! help @string         every command of a group
//!
//!   HSET key field value [field value ...]     one entry, as redis-cli prints it (without its colours)
//!   summary: Set the string value of a hash field
//!   since: 2.0.0
//!   group: hash
//! ```

use std::sync::{Arc, OnceLock};

use tinykv_proto::table::{lookup, CommandSpec};
use tinykv_proto::{Reply, COMMANDS};

/// Width at which the command list wraps.
const WIDTH: usize = 100;

/// The text `help` prints for the words after `help`, from TinyKV's table alone (offline help).
#[cfg(test)]
pub fn help(words: &[String]) -> String {
    local_help(words).unwrap_or_else(|| server_help(words, &[]))
}

/// The help TinyKV's own table gives, or `None` when the command or group is not in it (then the server's
/// `COMMAND DOCS` is asked, through [`server_help`]).
pub fn local_help(words: &[String]) -> Option<String> {
    match words {
        [] => Some(overview()),
        [group] if group.starts_with('@') => group_help(&group[1..]),
        [name, rest @ ..] => {
            lookup(name.as_bytes()).map(|spec| match rest.first().and_then(|sub| spec.subcommand(sub.as_bytes())) {
                Some(sub) => entry(sub, Some(spec)),
                None => command_help(spec),
            })
        }
    }
}

/// Help from the server's documentation, for a command or group TinyKV's table does not have. `docs` is
/// empty when not connected (or the server has no `COMMAND DOCS`): then it says there is no help.
pub fn server_help(words: &[String], docs: &[DocEntry]) -> String {
    let Some(first) = words.first() else { return overview() };
    if let Some(group) = first.strip_prefix('@') {
        let entries: Vec<&DocEntry> = docs.iter().filter(|doc| doc.group.eq_ignore_ascii_case(group)).collect();
        if entries.is_empty() {
            return format!("No group '@{group}'. Groups: {}\n", groups().join(" "));
        }
        return entries.into_iter().map(|doc| doc.render(false)).collect();
    }
    // Every entry whose name starts with the words typed: `help client` lists each CLIENT subcommand.
    let typed: Vec<String> = words.iter().map(|word| word.to_ascii_uppercase()).collect();
    let text: String = docs
        .iter()
        .filter(|doc| {
            let name: Vec<&str> = doc.name.split(' ').collect();
            typed.len() <= name.len() && typed.iter().zip(&name).all(|(word, part)| word == part)
        })
        .map(|doc| doc.render(true))
        .collect();
    if text.is_empty() {
        format!("No help for '{}'. Type \"help\" for the list of commands.\n", words.join(" "))
    } else {
        text
    }
}

/// The connected server's `COMMAND DOCS`, fetched at most once per session and read by help, completion
/// and hints (the REPL's line editor holds a second handle).
pub type Docs = Arc<OnceLock<Vec<DocEntry>>>;

/// One command's (or subcommand's) documentation, from `COMMAND DOCS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocEntry {
    /// `HSET`, or `CLIENT SETNAME` for a subcommand.
    pub name: String,
    /// The arguments in Redis's syntax: `key field value [field value ...]`.
    pub params: String,
    /// What the command does.
    pub summary: String,
    /// The Redis version that introduced it.
    pub since: String,
    /// Its group (`hash`, `pubsub`, ...).
    pub group: String,
}

impl DocEntry {
    /// redis-cli's entry layout; the group line only when listing a single command.
    fn render(&self, with_group: bool) -> String {
        let syntax = if self.params.is_empty() { self.name.clone() } else { format!("{} {}", self.name, self.params) };
        let mut out = format!("\n  {syntax}\n  summary: {}\n  since: {}\n", self.summary, self.since);
        if with_group {
            out.push_str(&format!("  group: {}\n", self.group));
        }
        out
    }
}

/// Reads a `COMMAND DOCS` reply (a map in RESP3, a flat list of names and details in RESP2) into entries,
/// subcommands included, sorted by name. Whatever is malformed is skipped: help is best effort.
pub fn parse_docs(reply: &Reply) -> Vec<DocEntry> {
    let mut entries = Vec::new();
    for (name, details) in pairs(reply) {
        if let Some(name) = text(name) {
            add_doc(&name.to_ascii_uppercase(), details, &mut entries);
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}

fn add_doc(name: &str, details: &Reply, entries: &mut Vec<DocEntry>) {
    let mut doc = DocEntry {
        name: name.to_owned(),
        params: String::new(),
        summary: String::new(),
        since: String::new(),
        group: String::new(),
    };
    let mut subcommands = None;
    for (key, value) in pairs(details) {
        match text(key).as_deref() {
            Some("summary") => doc.summary = text(value).unwrap_or_default(),
            Some("since") => doc.since = text(value).unwrap_or_default(),
            Some("group") => doc.group = text(value).unwrap_or_default(),
            Some("arguments") => doc.params = arguments(value, " "),
            Some("subcommands") => subcommands = Some(value),
            _ => {}
        }
    }
    entries.push(doc);
    for (sub, details) in subcommands.map(pairs).unwrap_or_default() {
        if let Some(sub) = text(sub) {
            // `client|setname` → `CLIENT SETNAME`.
            let sub = sub.rsplit('|').next().unwrap_or(&sub).to_ascii_uppercase();
            add_doc(&format!("{name} {sub}"), details, entries);
        }
    }
}

/// The syntax of a list of argument descriptions, as redis-cli 7.2 builds its hints from `COMMAND DOCS`:
/// optional ones in brackets, a `token` before the value, `oneof` joined with `|`, `block` with spaces, and
/// `[... ...]` for a repeatable one.
fn arguments(list: &Reply, separator: &str) -> String {
    let (Reply::Array(items) | Reply::Set(items)) = list else { return String::new() };
    items.iter().map(argument).filter(|part| !part.is_empty()).collect::<Vec<_>>().join(separator)
}

fn argument(arg: &Reply) -> String {
    let (mut name, mut kind, mut token, mut flags, mut display, mut subargs) =
        (String::new(), String::new(), None, Vec::new(), None, None);
    for (key, value) in pairs(arg) {
        match text(key).as_deref() {
            Some("name") => name = text(value).unwrap_or_default(),
            Some("type") => kind = text(value).unwrap_or_default(),
            Some("token") => token = text(value),
            Some("display_text") => display = text(value),
            Some("arguments") => subargs = Some(value),
            Some("flags") => {
                if let Reply::Array(items) | Reply::Set(items) = value {
                    flags = items.iter().filter_map(text).collect();
                }
            }
            _ => {}
        }
    }
    let has = |flag: &str| flags.iter().any(|f| f == flag);
    let or_empty = |text: &str| if text.is_empty() { "\"\"".to_owned() } else { text.to_owned() };
    let body = match kind.as_str() {
        "oneof" => subargs.map(|list| arguments(list, "|")).unwrap_or_default(),
        "block" => subargs.map(|list| arguments(list, " ")).unwrap_or_default(),
        "pure-token" => String::new(),
        _ => or_empty(display.as_deref().unwrap_or(&name)),
    };
    let mut out = String::new();
    if has("optional") {
        out.push('[');
    }
    let token_part = token.as_deref().map(|token| {
        let mut part = or_empty(token);
        if kind != "pure-token" {
            part.push(' ');
        }
        part
    });
    if let Some(part) = &token_part {
        out.push_str(part);
    }
    out.push_str(&body);
    if has("multiple") {
        if !out.is_empty() && !out.ends_with('[') {
            out.push(' ');
        }
        out.push('[');
        if has("multiple_token") {
            if let Some(part) = &token_part {
                out.push_str(part);
            }
        }
        out.push_str(&body);
        out.push_str(" ...]");
    }
    if has("optional") {
        out.push(']');
    }
    out
}

/// The entries of a map, or of a flat RESP2 list read two at a time.
fn pairs(reply: &Reply) -> Vec<(&Reply, &Reply)> {
    match reply {
        Reply::Map(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
        Reply::Array(items) => items.chunks_exact(2).map(|pair| (&pair[0], &pair[1])).collect(),
        _ => Vec::new(),
    }
}

fn text(reply: &Reply) -> Option<String> {
    match reply {
        Reply::Bulk(bytes) | Reply::Verbatim(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Reply::Status(text) => Some(text.to_string()),
        _ => None,
    }
}

fn overview() -> String {
    let mut out = format!(
        "tinykv-cli {}\n\
         Type \"help <command>\" for a command's syntax (\"help set\"), \"help @<group>\" for a group's commands.\n\
         Tab completes command names; \"quit\", \"exit\" or Ctrl-D leaves; Ctrl-C drops the line.\n\n",
        env!("CARGO_PKG_VERSION")
    );
    for group in groups() {
        let names: Vec<&str> = COMMANDS.iter().filter(|spec| spec.group == group).map(|spec| spec.name).collect();
        out.push_str(&wrap(&format!("@{group}"), &names));
    }
    out
}

/// Groups in the order the table first mentions them.
fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&str> = Vec::new();
    for spec in COMMANDS {
        if !groups.contains(&spec.group) {
            groups.push(spec.group);
        }
    }
    groups
}

/// `  @label     NAME NAME ...`, wrapped under the first name. A label as wide as the indent
/// (`@transactions`) still gets a space before the first name.
fn wrap(label: &str, names: &[&str]) -> String {
    const INDENT: usize = 16;
    let mut out = format!("  {label:<width$} ", width = INDENT - 3);
    let mut column = INDENT.max(label.len() + 3);
    for name in names {
        if column + name.len() + 1 > WIDTH && column > INDENT {
            out.push('\n');
            out.push_str(&" ".repeat(INDENT));
            column = INDENT;
        }
        out.push_str(name);
        out.push(' ');
        column += name.len() + 1;
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// Every command of `group` in TinyKV's table (without the group line, as redis-cli lists a group), or
/// `None` if the table has no such group.
fn group_help(group: &str) -> Option<String> {
    let specs: Vec<&CommandSpec> = COMMANDS.iter().filter(|spec| spec.group.eq_ignore_ascii_case(group)).collect();
    if specs.is_empty() {
        return None;
    }
    Some(specs.into_iter().map(|spec| entry(spec, None).replace(&format!("  group: {}\n", spec.group), "")).collect())
}

/// A command's entry, followed by its subcommands' when it is a container.
fn command_help(spec: &CommandSpec) -> String {
    let mut out = entry(spec, None);
    for sub in spec.subcommands {
        out.push_str(&entry(sub, Some(spec)));
    }
    out
}

fn entry(spec: &CommandSpec, parent: Option<&CommandSpec>) -> String {
    format!(
        "\n  {}\n  summary: {}\n  since: {}\n  group: {}\n",
        syntax(spec, parent),
        spec.summary,
        spec.since,
        spec.group
    )
}

/// `SET key value [NX|XX] ...` or `CLIENT SETNAME connection-name`.
pub fn syntax(spec: &CommandSpec, parent: Option<&CommandSpec>) -> String {
    let name = match parent {
        Some(parent) => format!("{} {}", parent.name, spec.name),
        None => spec.name.to_owned(),
    };
    if spec.args.is_empty() {
        name
    } else {
        format!("{name} {}", spec.args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn help_for(line: &str) -> String {
        help(&line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn overview_lists_every_command() {
        let text = help_for("");
        for spec in COMMANDS {
            assert!(text.contains(spec.name), "{} missing from:\n{text}", spec.name);
        }
        assert!(text.lines().all(|line| line.len() <= WIDTH + 20), "{text}");
    }

    #[test]
    fn command_help_has_syntax_summary_and_group() {
        let text = help_for("set");
        assert!(text.contains("\n  SET key value [NX|XX]"), "{text}");
        assert!(text.contains("summary: Sets the string value"), "{text}");
        assert!(text.contains("group: string"), "{text}");
        assert_eq!(help_for("SET"), text);
    }

    #[test]
    fn a_long_group_name_is_not_run_into_its_commands() {
        let text = help_for("");
        assert!(text.contains("@transactions "), "{text}");
        assert!(!text.contains("@transactionsD") && !text.contains("@transactionsM"), "{text}");
    }

    #[test]
    fn server_docs_give_help_for_what_the_table_lacks() {
        let bulk = |text: &str| Reply::bulk(text);
        let arg = |fields: &[(&str, Reply)]| Reply::Map(fields.iter().map(|(k, v)| (bulk(k), v.clone())).collect());
        let flags =
            |names: &[&str]| Reply::Array(names.iter().map(|name| Reply::Status(name.to_string().into())).collect());
        let pair = arg(&[
            ("name", bulk("data")),
            ("type", bulk("block")),
            ("flags", flags(&["multiple"])),
            (
                "arguments",
                Reply::Array(vec![
                    arg(&[("name", bulk("field")), ("type", bulk("string"))]),
                    arg(&[("name", bulk("value")), ("type", bulk("string"))]),
                ]),
            ),
        ]);
        let hset = arg(&[
            ("summary", bulk("Set the string value of a hash field")),
            ("since", bulk("2.0.0")),
            ("group", bulk("hash")),
            ("arguments", Reply::Array(vec![arg(&[("name", bulk("key")), ("type", bulk("key"))]), pair])),
        ]);
        // RESP2 shape: a flat list of name, details.
        let docs = parse_docs(&Reply::Array(vec![bulk("hset"), hset]));
        let text = server_help(&["hset".to_owned()], &docs);
        assert_eq!(
            text,
            "\n  HSET key field value [field value ...]\n  summary: Set the string value of a hash field\n  \
             since: 2.0.0\n  group: hash\n"
        );
        assert!(server_help(&["@hash".to_owned()], &docs).starts_with("\n  HSET key"));
        assert!(server_help(&["nope".to_owned()], &docs).starts_with("No help for 'nope'"));
        assert!(server_help(&["@pubsub".to_owned()], &[]).starts_with("No group '@pubsub'"));
    }

    #[test]
    fn subcommands_and_groups() {
        assert!(help_for("client setname").contains("CLIENT SETNAME connection-name"));
        assert!(help_for("client").contains("CLIENT GETNAME"));
        let strings = help_for("@string");
        assert!(strings.contains("GET key") && !strings.contains("PING"), "{strings}");
        assert!(help_for("@nope").starts_with("No group"));
        assert!(help_for("nope").starts_with("No help for 'nope'"));
    }
}
