//! The table's argument syntax (`key value [NX|XX] [EX seconds|PX milliseconds]`) read into the
//! structured arguments `COMMAND DOCS` reports, so redis-cli's hints work against TinyKV as they do
//! against Redis, from the same one line per command the CLI shows.
//!
//! ```text
//! UPPER          a literal token                      (type pure-token)
//! UPPER lower    a token followed by its value        (token UPPER, named lower)
//! lower          a value, typed by its name           (key, integer, pattern, unix-time, string)
//! [ ... ]        optional
//! a|b            one of
//! x [x ...]      x, repeated                          (flag multiple)
//! ```

/// What kind of value an argument takes, with Redis's names for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A key name.
    Key,
    /// Any string.
    String,
    /// A whole number.
    Integer,
    /// A glob pattern.
    Pattern,
    /// A Unix time.
    UnixTime,
    /// A literal word with no value.
    PureToken,
    /// One of several alternatives.
    OneOf,
    /// Several arguments that go together.
    Block,
}

impl Kind {
    /// Redis's name for the kind, as `COMMAND DOCS` reports it.
    pub fn redis_name(self) -> &'static str {
        match self {
            Kind::Key => "key",
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Pattern => "pattern",
            Kind::UnixTime => "unix-time",
            Kind::PureToken => "pure-token",
            Kind::OneOf => "oneof",
            Kind::Block => "block",
        }
    }

    fn of_value(name: &str) -> Kind {
        match name {
            "key" | "newkey" => Kind::Key,
            "pattern" => Kind::Pattern,
            "seconds" | "milliseconds" | "increment" | "decrement" | "count" | "index" | "cursor" | "protover" => {
                Kind::Integer
            }
            _ if name.starts_with("unix-time") => Kind::UnixTime,
            _ => Kind::String,
        }
    }
}

/// One argument of a command, as `COMMAND DOCS` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argument {
    /// Its name (for a pure token, the token in lower case).
    pub name: String,
    /// What it takes.
    pub kind: Kind,
    /// The literal word that introduces it (`EX` in `EX seconds`).
    pub token: Option<String>,
    /// Whether it may be left out.
    pub optional: bool,
    /// Whether it may repeat.
    pub multiple: bool,
    /// Whether each repetition repeats its token too (`GET pattern [GET pattern ...]`).
    pub multiple_token: bool,
    /// The alternatives of a `OneOf`, the parts of a `Block`.
    pub arguments: Vec<Argument>,
}

/// Reads a syntax line into its arguments. Lines the table does not use (nested `...` inside
/// alternatives, say) still read, as plain strings.
pub fn parse(syntax: &str) -> Vec<Argument> {
    let tokens = tokenize(syntax);
    let mut position = 0;
    let alternatives = sequence(&tokens, &mut position);
    one_argument_per_alternative(alternatives)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    Open,
    Close,
    Bar,
    Ellipsis,
    Word(&'a str),
}

fn tokenize(syntax: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut rest = syntax;
    while let Some(c) = rest.chars().next() {
        let (token, len) = match c {
            '[' => (Some(Token::Open), 1),
            ']' => (Some(Token::Close), 1),
            '|' => (Some(Token::Bar), 1),
            ' ' => (None, 1),
            _ if rest.starts_with("...") => (Some(Token::Ellipsis), 3),
            _ => {
                let len = rest.find([' ', '[', ']', '|']).unwrap_or(rest.len());
                (Some(Token::Word(&rest[..len])), len)
            }
        };
        tokens.extend(token);
        rest = &rest[len..];
    }
    tokens
}

/// What a bracket level holds before it is turned into arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item<'a> {
    Word(&'a str),
    Ellipsis,
    /// `[ ... ]`: its alternatives, each a sequence.
    Optional(Vec<Vec<Item<'a>>>),
}

/// Reads items up to the matching `]` (or the end), split into alternatives at `|`.
fn sequence<'a>(tokens: &[Token<'a>], position: &mut usize) -> Vec<Vec<Item<'a>>> {
    let mut alternatives = vec![Vec::new()];
    while let Some(token) = tokens.get(*position) {
        *position += 1;
        let current = alternatives.last_mut().expect("never empty");
        match token {
            Token::Close => break,
            Token::Bar => alternatives.push(Vec::new()),
            Token::Ellipsis => current.push(Item::Ellipsis),
            Token::Word(word) => current.push(Item::Word(word)),
            Token::Open => {
                let inner = sequence(tokens, position);
                current.push(Item::Optional(inner));
            }
        }
    }
    alternatives
}

/// Arguments of one alternative: a sequence of items.
fn arguments(items: &[Item<'_>]) -> Vec<Argument> {
    let mut out: Vec<Argument> = Vec::new();
    let mut i = 0;
    while i < items.len() {
        match &items[i] {
            Item::Word(word) if is_token(word) => {
                // `EX seconds` or `AUTH username password`: a token with its value(s); `NX`: a token alone.
                let values: Vec<Argument> = items[i + 1..]
                    .iter()
                    .map_while(|item| match item {
                        Item::Word(value) if !is_token(value) => Some(value_argument(value)),
                        _ => None,
                    })
                    .collect();
                i += values.len();
                let mut argument = if values.is_empty() { token_argument(word) } else { block(values) };
                argument.token = Some((*word).to_owned());
                // `WEIGHTS weight [weight ...]` or `GET pattern [GET pattern ...]`: the token's value
                // repeats, alone or with the token.
                if let Some(Item::Optional(alternatives)) = items.get(i + 1) {
                    let repeated = repeats(std::slice::from_ref(&argument), alternatives) == 1;
                    let value_only = argument.kind != Kind::PureToken && {
                        let mut bare = argument.clone();
                        bare.token = None;
                        repeats(std::slice::from_ref(&bare), alternatives) == 1
                    };
                    if repeated || value_only {
                        argument.multiple = true;
                        argument.multiple_token = repeated;
                        i += 1;
                    }
                }
                out.push(argument);
            }
            Item::Word(word) => out.push(value_argument(word)),
            Item::Ellipsis => {}
            Item::Optional(alternatives) => {
                let repeats_previous = repeats(&out, alternatives);
                if repeats_previous > 0 {
                    // `key [key ...]`: the previous argument(s) repeat.
                    let start = out.len() - repeats_previous;
                    let repeated: Vec<Argument> = out.drain(start..).collect();
                    let mut argument = block(repeated);
                    argument.multiple = true;
                    out.push(argument);
                } else {
                    // `[a b]` is one optional block, not two optional arguments.
                    let parsed = one_argument_per_alternative(alternatives.clone());
                    if !parsed.is_empty() {
                        let mut argument = block(parsed);
                        argument.optional = true;
                        out.push(argument);
                    }
                }
            }
        }
        i += 1;
    }
    out
}

/// For `[x y ...]` after `x y`, how many previous arguments it repeats (0 when it is not a repeat).
fn repeats(previous: &[Argument], alternatives: &[Vec<Item<'_>>]) -> usize {
    let [items] = alternatives else { return 0 };
    let Some((Item::Ellipsis, body)) = items.split_last() else { return 0 };
    let body = arguments(body);
    if body.is_empty() || body.len() > previous.len() {
        return 0;
    }
    let tail = &previous[previous.len() - body.len()..];
    let same = tail.iter().zip(&body).all(|(a, b)| a.name == b.name && a.token == b.token);
    if same {
        body.len()
    } else {
        0
    }
}

/// A list of alternatives as arguments: one `OneOf` when there are several, else the sequence itself.
fn one_argument_per_alternative(alternatives: Vec<Vec<Item<'_>>>) -> Vec<Argument> {
    let mut parsed: Vec<Vec<Argument>> = alternatives.iter().map(|items| arguments(items)).collect();
    parsed.retain(|arguments| !arguments.is_empty());
    match parsed.len() {
        0 => Vec::new(),
        1 => parsed.remove(0),
        _ => {
            let choices: Vec<Argument> = parsed.into_iter().map(block).collect();
            let name = choices.iter().map(|choice| choice.name.as_str()).collect::<Vec<_>>().join("-or-");
            vec![Argument {
                name,
                kind: Kind::OneOf,
                token: None,
                optional: false,
                multiple: false,
                multiple_token: false,
                arguments: choices,
            }]
        }
    }
}

/// Several arguments as one: the argument itself when there is just one, else a `Block`.
fn block(mut parts: Vec<Argument>) -> Argument {
    if parts.len() == 1 {
        return parts.remove(0);
    }
    let name = parts.iter().map(|part| part.name.as_str()).collect::<Vec<_>>().join("-");
    Argument {
        name,
        kind: Kind::Block,
        token: None,
        optional: false,
        multiple: false,
        multiple_token: false,
        arguments: parts,
    }
}

fn is_token(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_uppercase()) && !word.chars().any(|c| c.is_ascii_lowercase())
}

fn token_argument(word: &str) -> Argument {
    Argument {
        name: word.to_ascii_lowercase(),
        kind: Kind::PureToken,
        token: Some(word.to_owned()),
        optional: false,
        multiple: false,
        multiple_token: false,
        arguments: Vec::new(),
    }
}

fn value_argument(word: &str) -> Argument {
    Argument {
        name: word.to_owned(),
        kind: Kind::of_value(word),
        token: None,
        optional: false,
        multiple: false,
        multiple_token: false,
        arguments: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(arguments: &[Argument]) -> String {
        arguments
            .iter()
            .map(|a| {
                let mut text = format!("{}:{}", a.name, a.kind.redis_name());
                if let Some(token) = &a.token {
                    text = format!("{token}={text}");
                }
                if a.optional {
                    text.push('?');
                }
                if a.multiple {
                    text.push('*');
                }
                if !a.arguments.is_empty() {
                    text = format!("{text}({})", summary(&a.arguments));
                }
                text
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn set_reads_like_redis_docs() {
        let set = parse(
            "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]",
        );
        assert_eq!(
            summary(&set),
            "key:key value:string nx-or-xx:oneof?(NX=nx:pure-token XX=xx:pure-token) GET=get:pure-token? \
             seconds-or-milliseconds-or-unix-time-seconds-or-unix-time-milliseconds-or-keepttl:oneof?(EX=seconds:integer \
             PX=milliseconds:integer EXAT=unix-time-seconds:unix-time PXAT=unix-time-milliseconds:unix-time \
             KEEPTTL=keepttl:pure-token)"
        );
    }

    #[test]
    fn repeats_and_optionals() {
        assert_eq!(summary(&parse("key [key ...]")), "key:key*");
        assert_eq!(summary(&parse("key value [key value ...]")), "key-value:block*(key:key value:string)");
        assert_eq!(summary(&parse("[section [section ...]]")), "section:string?*");
        assert_eq!(summary(&parse("[message]")), "message:string?");
        assert_eq!(
            summary(&parse("cursor [MATCH pattern] [COUNT count]")),
            "cursor:integer MATCH=pattern:pattern? COUNT=count:integer?"
        );
        assert_eq!(summary(&parse("[username] password")), "username:string? password:string");
        assert!(parse("").is_empty());
    }

    /// Rebuilds a syntax line from arguments the way redis-cli builds its hints from `COMMAND DOCS`.
    fn hint(arguments: &[Argument], separator: &str) -> String {
        let one = |a: &Argument| {
            let repeat = match a.kind {
                Kind::OneOf => hint(&a.arguments, "|"),
                Kind::Block => hint(&a.arguments, " "),
                Kind::PureToken => String::new(),
                _ => a.name.clone(),
            };
            let mut token = a.token.clone().unwrap_or_default();
            if !token.is_empty() && a.kind != Kind::PureToken {
                token.push(' ');
            }
            let mut text = format!("{token}{repeat}");
            if a.multiple_token {
                text = format!("{text} [{text} ...]");
            } else if a.multiple {
                text = format!("{text} [{repeat} ...]");
            }
            if a.optional {
                text = format!("[{text}]");
            }
            text
        };
        arguments.iter().map(one).collect::<Vec<_>>().join(separator)
    }

    #[test]
    fn every_table_line_round_trips_through_redis_cli_hints() {
        for spec in crate::COMMANDS.iter().chain(crate::COMMANDS.iter().flat_map(|s| s.subcommands)) {
            if !spec.subcommands.is_empty() {
                continue;
            }
            let arguments = parse(spec.args);
            assert_eq!(hint(&arguments, " "), spec.args, "{}", spec.name);
        }
    }
}
