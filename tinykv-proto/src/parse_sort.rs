//! The parser of `SORT` and `SORT_RO` (see [`crate::parse`] for the conventions).

use crate::command::{parse_integer, upper, Args, Command, Sort};
use crate::CommandError;

type Parsed = Result<Command, CommandError>;

/// Redis's `sortCommandGeneric` option loop: `ASC`, `DESC`, `ALPHA`, `LIMIT offset count`, `BY
/// pattern`, `GET pattern` (repeatable), and for `SORT` only `STORE destination`; a later option of
/// the same kind wins, and a word that fits none is a syntax error.
fn sort_generic(args: &mut Args, readonly: bool) -> Parsed {
    let key = args.take()?;
    let rest: Vec<bytes::Bytes> = args.rest();
    let mut sort =
        Sort { key, by: None, nosort: false, limit: None, gets: Vec::new(), desc: false, alpha: false, store: None };
    let mut at = 0;
    while let Some(option) = rest.get(at) {
        let left = rest.len() - at - 1;
        match upper(option).as_slice() {
            b"ASC" => sort.desc = false,
            b"DESC" => sort.desc = true,
            b"ALPHA" => sort.alpha = true,
            b"LIMIT" if left >= 2 => {
                sort.limit = Some((parse_integer(&rest[at + 1])?, parse_integer(&rest[at + 2])?));
                at += 2;
            }
            b"STORE" if !readonly && left >= 1 => {
                sort.store = Some(rest[at + 1].clone());
                at += 1;
            }
            b"BY" if left >= 1 => {
                sort.by = Some(rest[at + 1].clone());
                sort.nosort |= !rest[at + 1].contains(&b'*');
                at += 1;
            }
            b"GET" if left >= 1 => {
                sort.gets.push(rest[at + 1].clone());
                at += 1;
            }
            _ => return Err(CommandError::Syntax),
        }
        at += 1;
    }
    Ok(Command::Sort(sort))
}

pub(crate) fn sort(args: &mut Args) -> Parsed {
    sort_generic(args, false)
}

pub(crate) fn sort_ro(args: &mut Args) -> Parsed {
    sort_generic(args, true)
}
