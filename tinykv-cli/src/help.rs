//! The REPL's `help`, written from the shared command table so it can never disagree with the server.
//!
//! ```text
//! help                 the command list, by group
//! help set             syntax, summary, since and group of SET
//! help client setname  the same for a subcommand
//! help @string         every command of a group
//! ```

use tinykv_proto::table::{lookup, CommandSpec};
use tinykv_proto::COMMANDS;

/// Width at which the command list wraps.
const WIDTH: usize = 100;

/// The text `help` prints for the words after `help`.
pub fn help(words: &[String]) -> String {
    match words {
        [] => overview(),
        [group] if group.starts_with('@') => group_help(&group[1..]),
        [name, rest @ ..] => match lookup(name.as_bytes()) {
            None => format!("No help for '{name}'. Type \"help\" for the list of commands.\n"),
            Some(spec) => match rest.first().and_then(|sub| spec.subcommand(sub.as_bytes())) {
                Some(sub) => entry(sub, Some(spec)),
                None => command_help(spec),
            },
        },
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

/// `  @label     NAME NAME ...`, wrapped under the first name.
fn wrap(label: &str, names: &[&str]) -> String {
    const INDENT: usize = 14;
    let mut out = format!("  {label:<width$}", width = INDENT - 2);
    let mut column = INDENT.max(label.len() + 2);
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

fn group_help(group: &str) -> String {
    let specs: Vec<&CommandSpec> = COMMANDS.iter().filter(|spec| spec.group.eq_ignore_ascii_case(group)).collect();
    if specs.is_empty() {
        return format!("No group '@{group}'. Groups: {}\n", groups().join(" "));
    }
    specs.into_iter().map(|spec| entry(spec, None)).collect()
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
    fn subcommands_and_groups() {
        assert!(help_for("client setname").contains("CLIENT SETNAME connection-name"));
        assert!(help_for("client").contains("CLIENT GETNAME"));
        let strings = help_for("@string");
        assert!(strings.contains("GET key") && !strings.contains("PING"), "{strings}");
        assert!(help_for("@nope").starts_with("No group"));
        assert!(help_for("nope").starts_with("No help for 'nope'"));
    }
}
