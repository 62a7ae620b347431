//! Typed commands: a [`Request`]'s words checked against the command table and turned into one
//! variant per command, so the server executes values it can trust.
//!
//! Parsing never fails the connection: every problem is a [`CommandError`] reply.

use bytes::Bytes;

use crate::table::{self, CommandSpec};
use crate::{CommandError, Request};

/// The condition of a conditional `SET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCondition {
    /// `NX`: only when the key does not exist.
    IfAbsent,
    /// `XX`: only when the key exists.
    IfPresent,
}

/// What a write does to the key's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Expire at this Unix time in milliseconds (`EX`, `PX`, `EXAT`, `PXAT` all become this).
    At(i64),
    /// Relative: expire this many milliseconds from now; resolved by the server at execution.
    In(i64),
    /// `KEEPTTL`: keep the key's current time to live.
    Keep,
}

/// `SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT|KEEPTTL]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    /// The key.
    pub key: Bytes,
    /// The new value.
    pub value: Bytes,
    /// `NX` or `XX`, if given.
    pub condition: Option<SetCondition>,
    /// `GET`: reply with the old value instead of `OK`.
    pub get: bool,
    /// The time to live; `None` clears any existing one, as a plain `SET` does.
    pub expiry: Option<Expiry>,
}

/// `CLIENT` subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCommand {
    /// `CLIENT ID`.
    Id,
    /// `CLIENT GETNAME`.
    GetName,
    /// `CLIENT SETNAME name`.
    SetName(Bytes),
    /// `CLIENT SETINFO LIB-NAME|LIB-VER value`.
    SetInfo { attribute: Bytes, value: Bytes },
    /// `CLIENT HELP`.
    Help,
}

/// `COMMAND` subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandCommand {
    /// Bare `COMMAND`: every command's info.
    All,
    /// `COMMAND COUNT`.
    Count,
    /// `COMMAND DOCS [name ...]` (empty: all).
    Docs(Vec<Bytes>),
    /// `COMMAND INFO [name ...]` (empty: all).
    Info(Vec<Bytes>),
    /// `COMMAND HELP`.
    Help,
}

/// `HELLO [protover [AUTH username password] [SETNAME name]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The protocol version asked for, if any (validated by the server: 2 or 3).
    pub protover: Option<i64>,
    /// `AUTH username password`.
    pub auth: Option<(Bytes, Bytes)>,
    /// `SETNAME name`.
    pub setname: Option<Bytes>,
}

/// One command, parsed and checked; one variant per command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `GET key`.
    Get { key: Bytes },
    /// `SET ...`.
    Set(Set),
    /// `DEL key [key ...]`.
    Del { keys: Vec<Bytes> },
    /// `PING [message]`.
    Ping { message: Option<Bytes> },
    /// `ECHO message`.
    Echo { message: Bytes },
    /// `QUIT`.
    Quit,
    /// `SELECT index`.
    Select { index: i64 },
    /// `HELLO ...`.
    Hello(Hello),
    /// `COMMAND ...`.
    Command(CommandCommand),
    /// `CONFIG GET pattern [pattern ...]`.
    ConfigGet { patterns: Vec<Bytes> },
    /// `CONFIG HELP`.
    ConfigHelp,
    /// `CLIENT ...`.
    Client(ClientCommand),
}

impl Command {
    /// Looks the name up in the table, checks arity, and parses the arguments.
    pub fn parse(request: Request) -> Result<Command, CommandError> {
        let mut args = request.args.into_iter();
        let name = args.next().unwrap_or_default();
        let rest: Vec<Bytes> = args.collect();
        let Some(spec) = table::lookup(&name) else {
            return Err(CommandError::unknown_command(&name, &rest));
        };
        if !spec.arity_ok(rest.len() + 1) {
            return Err(CommandError::WrongArity(spec.full_name(None)));
        }
        let mut args = Args::new(rest);
        let command = match spec.name {
            "GET" => Command::Get { key: args.next()? },
            "SET" => Command::Set(parse_set(&mut args)?),
            "DEL" => Command::Del { keys: args.rest() },
            "PING" => {
                let message = args.next_opt();
                if !args.is_empty() {
                    return Err(CommandError::WrongArity("ping".to_owned()));
                }
                Command::Ping { message }
            }
            "ECHO" => Command::Echo { message: args.next()? },
            "QUIT" => Command::Quit,
            "SELECT" => Command::Select {
                index: args.integer().map_err(|_| CommandError::Other("ERR invalid DB index".into()))?,
            },
            "HELLO" => Command::Hello(parse_hello(&mut args)?),
            "COMMAND" => Command::Command(parse_command_command(spec, &mut args)?),
            "CONFIG" => match subcommand(spec, &mut args)?.name {
                "GET" => Command::ConfigGet { patterns: args.rest() },
                _ => Command::ConfigHelp,
            },
            "CLIENT" => Command::Client(match subcommand(spec, &mut args)?.name {
                "ID" => ClientCommand::Id,
                "GETNAME" => ClientCommand::GetName,
                "SETNAME" => {
                    let name = args.next()?;
                    if name.iter().any(|&b| b <= b' ' || b > b'~') {
                        return Err(CommandError::Other(
                            "ERR Client names cannot contain spaces, newlines or special characters.".into(),
                        ));
                    }
                    ClientCommand::SetName(name)
                }
                "SETINFO" => ClientCommand::SetInfo { attribute: args.next()?, value: args.next()? },
                _ => ClientCommand::Help,
            }),
            other => {
                // In the table but not yet parsed here: say so honestly rather than pretend.
                return Err(CommandError::Other(format!("ERR command '{}' is not implemented", other.to_lowercase())));
            }
        };
        Ok(command)
    }
}

/// Finds the subcommand after a container command's name and checks its arity.
fn subcommand(parent: &'static CommandSpec, args: &mut Args) -> Result<&'static CommandSpec, CommandError> {
    let name = args.next()?;
    let Some(sub) = parent.subcommand(&name) else {
        return Err(CommandError::UnknownSubcommand {
            command: parent.name.to_owned(),
            sub: String::from_utf8_lossy(&name).into_owned(),
        });
    };
    // Arity counts the parent's name and the subcommand's.
    if !sub.arity_ok(args.remaining() + 2) {
        return Err(CommandError::WrongArity(sub.full_name(Some(parent))));
    }
    Ok(sub)
}

fn parse_set(args: &mut Args) -> Result<Set, CommandError> {
    let key = args.next()?;
    let value = args.next()?;
    let mut set = Set { key, value, condition: None, get: false, expiry: None };
    while let Some(option) = args.next_opt() {
        let option = option.to_ascii_uppercase();
        match option.as_slice() {
            b"NX" | b"XX" if set.condition.is_none() => {
                set.condition = Some(if option == b"NX" { SetCondition::IfAbsent } else { SetCondition::IfPresent });
            }
            b"GET" if !set.get => set.get = true,
            b"KEEPTTL" if set.expiry.is_none() => set.expiry = Some(Expiry::Keep),
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if set.expiry.is_none() => {
                let amount = args.next_opt().ok_or(CommandError::Syntax)?;
                let amount = parse_integer(&amount)?;
                set.expiry = Some(expiry_from(&option, amount, "set")?);
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    Ok(set)
}

/// Turns `EX`/`PX`/`EXAT`/`PXAT` and an amount into an [`Expiry`], rejecting what Redis rejects.
pub fn expiry_from(unit: &[u8], amount: i64, command: &str) -> Result<Expiry, CommandError> {
    let invalid = || CommandError::Other(format!("ERR invalid expire time in '{command}' command"));
    if amount <= 0 {
        return Err(invalid());
    }
    let millis = |secs: i64| secs.checked_mul(1000).ok_or_else(invalid);
    Ok(match unit {
        b"EX" => Expiry::In(millis(amount)?),
        b"PX" => Expiry::In(amount),
        b"EXAT" => Expiry::At(millis(amount)?),
        _ => Expiry::At(amount),
    })
}

fn parse_hello(args: &mut Args) -> Result<Hello, CommandError> {
    let mut hello = Hello { protover: None, auth: None, setname: None };
    let Some(version) = args.next_opt() else { return Ok(hello) };
    hello.protover = Some(
        parse_integer(&version)
            .map_err(|_| CommandError::Other("ERR Protocol version is not an integer or out of range".into()))?,
    );
    while let Some(option) = args.next_opt() {
        if option.eq_ignore_ascii_case(b"AUTH") && args.remaining() >= 2 {
            hello.auth = Some((args.next()?, args.next()?));
        } else if option.eq_ignore_ascii_case(b"SETNAME") && args.remaining() >= 1 {
            hello.setname = Some(args.next()?);
        } else {
            return Err(CommandError::Other(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&option)
            )));
        }
    }
    Ok(hello)
}

fn parse_command_command(spec: &'static CommandSpec, args: &mut Args) -> Result<CommandCommand, CommandError> {
    if args.is_empty() {
        return Ok(CommandCommand::All);
    }
    Ok(match subcommand(spec, args)?.name {
        "COUNT" => CommandCommand::Count,
        "DOCS" => CommandCommand::Docs(args.rest()),
        "INFO" => CommandCommand::Info(args.rest()),
        _ => CommandCommand::Help,
    })
}

/// Parses a decimal `i64` the way Redis does: no spaces, no plus sign, no leading zeros tricks.
pub fn parse_integer(bytes: &[u8]) -> Result<i64, CommandError> {
    let text = std::str::from_utf8(bytes).map_err(|_| CommandError::NotInteger)?;
    if text.is_empty() || text.starts_with('+') || text.len() > 20 {
        return Err(CommandError::NotInteger);
    }
    text.parse().map_err(|_| CommandError::NotInteger)
}

/// A cursor over a command's arguments (after the name).
#[derive(Debug)]
pub struct Args {
    args: std::vec::IntoIter<Bytes>,
}

impl Args {
    /// Wraps the arguments after the command name.
    pub fn new(args: Vec<Bytes>) -> Self {
        Args { args: args.into_iter() }
    }

    /// The next argument; arity was checked, so a missing one is a syntax error.
    pub fn next(&mut self) -> Result<Bytes, CommandError> {
        self.args.next().ok_or(CommandError::Syntax)
    }

    /// The next argument, if any.
    pub fn next_opt(&mut self) -> Option<Bytes> {
        self.args.next()
    }

    /// The next argument as an integer.
    pub fn integer(&mut self) -> Result<i64, CommandError> {
        parse_integer(&self.next()?)
    }

    /// All remaining arguments.
    pub fn rest(&mut self) -> Vec<Bytes> {
        self.args.by_ref().collect()
    }

    /// How many arguments are left.
    pub fn remaining(&self) -> usize {
        self.args.len()
    }

    /// Whether none are left.
    pub fn is_empty(&self) -> bool {
        self.args.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<Command, CommandError> {
        let args = words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
        Command::parse(Request { args })
    }

    #[test]
    fn unknown_command_is_worded_as_redis() {
        let err = parse(&["FOO", "a", "b"]).unwrap_err();
        assert_eq!(err.to_string(), "ERR unknown command 'FOO', with args beginning with: 'a' 'b' ");
    }

    #[test]
    fn arity_is_checked_from_the_table() {
        assert_eq!(parse(&["get"]).unwrap_err().to_string(), "ERR wrong number of arguments for 'get' command");
        assert_eq!(
            parse(&["client", "setname"]).unwrap_err().to_string(),
            "ERR wrong number of arguments for 'client|setname' command"
        );
    }

    #[test]
    fn set_options() {
        let Command::Set(set) = parse(&["set", "k", "v", "nx", "get", "px", "100"]).unwrap() else { panic!() };
        assert_eq!(set.condition, Some(SetCondition::IfAbsent));
        assert!(set.get);
        assert_eq!(set.expiry, Some(Expiry::In(100)));
        assert_eq!(parse(&["set", "k", "v", "nx", "xx"]), Err(CommandError::Syntax));
        assert_eq!(parse(&["set", "k", "v", "ex", "1", "px", "1"]), Err(CommandError::Syntax));
        assert_eq!(parse(&["set", "k", "v", "ex"]), Err(CommandError::Syntax));
        assert_eq!(parse(&["set", "k", "v", "ex", "x"]), Err(CommandError::NotInteger));
        assert_eq!(
            parse(&["set", "k", "v", "ex", "0"]).unwrap_err().to_string(),
            "ERR invalid expire time in 'set' command"
        );
    }
}
