//! `FUNCTION` libraries: `#!lua name=<lib>` code whose top level registers functions with
//! `redis.register_function`, kept by name until deleted or flushed.

use std::collections::BTreeMap;

use bytes::Bytes;
use mlua::{Function, Table, Value};
use tinykv_proto::command::RestorePolicy;
use tinykv_proto::Reply;

use super::vm::{ScriptFlags, Vm};

/// One registered function.
pub struct Registered {
    /// Its name.
    pub name: String,
    /// The Lua function it runs.
    pub callback: Function,
    /// Its flags (`no-writes`, `allow-oom`).
    pub flags: ScriptFlags,
    /// The flags as registered, for `FUNCTION LIST`.
    pub flag_names: Vec<String>,
    /// Its description, if given.
    pub description: Option<String>,
}

/// One loaded library.
pub struct Library {
    /// `name=` of its shebang line.
    pub name: String,
    /// The code as loaded, for `FUNCTION LIST WITHCODE`, `DUMP` and persistence.
    pub code: Bytes,
    /// Its functions, by name.
    pub functions: BTreeMap<String, Registered>,
}

/// Every library, and which library each function name belongs to.
#[derive(Default)]
pub struct Libraries {
    libraries: BTreeMap<String, Library>,
    owners: BTreeMap<String, String>,
}

/// Checks a function or library name as Redis does.
pub fn check_name(name: &[u8]) -> Result<(), String> {
    if name.is_empty() || !name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("Function names can only contain letters, numbers, or underscores(_) and must be at least one character long".to_owned());
    }
    Ok(())
}

impl Libraries {
    /// The function called `name`.
    pub fn function(&self, name: &[u8]) -> Option<&Registered> {
        let name = std::str::from_utf8(name).ok()?;
        let library = self.owners.get(name)?;
        self.libraries.get(library)?.functions.get(name)
    }

    /// Every library, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Library> {
        self.libraries.values()
    }

    /// How many libraries and functions there are.
    pub fn counts(&self) -> (usize, usize) {
        (self.libraries.len(), self.owners.len())
    }

    /// `FUNCTION DELETE`.
    pub fn delete(&mut self, name: &[u8]) -> bool {
        let Some(library) = std::str::from_utf8(name).ok().and_then(|name| self.libraries.remove(name)) else {
            return false;
        };
        for function in library.functions.keys() {
            self.owners.remove(function);
        }
        true
    }

    /// `FUNCTION FLUSH`.
    pub fn flush(&mut self) {
        self.libraries.clear();
        self.owners.clear();
    }
}

/// The library name of `#!lua name=<name>`, and the code with that line blanked.
fn metadata(code: &[u8]) -> Result<(String, Vec<u8>), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".to_owned());
    }
    let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[2..end]).into_owned();
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    let engine = words.next().unwrap_or_default();
    let mut name = None;
    for word in words {
        match word.split_once('=') {
            Some(("name", value)) => name = Some(value.to_owned()),
            _ => return Err("ERR Invalid library metadata".to_owned()),
        }
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    let name = name.ok_or_else(|| "ERR Library name was not given".to_owned())?;
    check_name(name.as_bytes()).map_err(|_| "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".to_owned())?;
    let mut body = Vec::with_capacity(code.len());
    body.extend_from_slice(&code[end..]);
    Ok((name, body))
}

/// Most functions all libraries may register together: each holds a handle to its callback, and
/// mlua has room for about 8,000 in all (it panics past them). Redis sets no limit.
pub const MAX_FUNCTIONS: usize = 1000;

impl Vm {
    /// `FUNCTION LOAD [REPLACE] code`: the library's name, or Redis's error.
    pub fn load_library(&mut self, code: &Bytes, replace: bool) -> Result<String, String> {
        let (name, body) = metadata(code)?;
        if self.libraries.libraries.contains_key(&name) && !replace {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        let func = self
            .compile(&body, "@user_function")
            .map_err(|message| format!("ERR Error compiling function: {message}"))?;
        let registered = self.run_library(&func).map_err(|err| format!("ERR Error registering functions: {err}"))?;
        let mut functions = BTreeMap::new();
        for entry in registered {
            let function = registration(&entry).map_err(|err| format!("ERR {err}"))?;
            if let Some(owner) = self.libraries.owners.get(&function.name) {
                if owner != &name {
                    return Err(format!("ERR Function {} already exists", function.name));
                }
            }
            if functions.contains_key(&function.name) {
                return Err(format!("ERR Function {} already exists", function.name));
            }
            functions.insert(function.name.clone(), function);
        }
        if functions.is_empty() {
            return Err("ERR No functions registered".to_owned());
        }
        let kept: usize =
            self.libraries.libraries.values().filter(|lib| lib.name != name).map(|lib| lib.functions.len()).sum();
        if kept + functions.len() > MAX_FUNCTIONS {
            return Err(format!("ERR Error registering functions: {}", super::vm::too_many_functions()));
        }
        self.libraries.delete(name.as_bytes());
        for function in functions.keys() {
            self.libraries.owners.insert(function.clone(), name.clone());
        }
        self.libraries.libraries.insert(name.clone(), Library { name: name.clone(), code: code.clone(), functions });
        Ok(name)
    }

    /// `FUNCTION RESTORE`: loads every library of a payload under `policy`; on an error the
    /// libraries are as they were.
    pub fn restore_libraries(&mut self, codes: Vec<Vec<u8>>, policy: RestorePolicy) -> Result<(), String> {
        let saved = std::mem::take(&mut self.libraries);
        if policy != RestorePolicy::Flush {
            // Kept as they are: rebuilt by loading their code again.
            let kept: Vec<Bytes> = saved.iter().map(|library| library.code.clone()).collect();
            for code in &kept {
                if let Err(err) = self.load_library(code, true) {
                    self.libraries = saved;
                    return Err(err);
                }
            }
        }
        for code in codes {
            let code = Bytes::from(code);
            let result = metadata(&code).and_then(|(name, _)| {
                let exists = self.libraries.libraries.contains_key(&name);
                if exists && policy == RestorePolicy::Append {
                    return Err(format!("ERR Library {name} already exists"));
                }
                self.load_library(&code, true)
            });
            if let Err(err) = result {
                self.libraries = saved;
                return Err(err);
            }
        }
        Ok(())
    }

    /// The code of every library, in name order.
    pub fn library_codes(&self) -> Vec<Bytes> {
        self.libraries.iter().map(|library| library.code.clone()).collect()
    }

    /// `FUNCTION LIST [WITHCODE] [LIBRARYNAME pattern]`.
    pub fn list_libraries(&self, with_code: bool, pattern: Option<&[u8]>) -> Reply {
        let libraries = self
            .libraries
            .iter()
            .filter(|library| pattern.is_none_or(|p| crate::glob::matches(p, library.name.as_bytes())))
            .map(|library| {
                let functions = library
                    .functions
                    .values()
                    .map(|function| {
                        Reply::Map(vec![
                            (Reply::bulk("name"), Reply::bulk(&function.name)),
                            (
                                Reply::bulk("description"),
                                function.description.as_ref().map_or(Reply::Null, Reply::bulk),
                            ),
                            (
                                Reply::bulk("flags"),
                                Reply::Set(
                                    function.flag_names.iter().map(|f| Reply::Status(f.clone().into())).collect(),
                                ),
                            ),
                        ])
                    })
                    .collect();
                let mut fields = vec![
                    (Reply::bulk("library_name"), Reply::bulk(&library.name)),
                    (Reply::bulk("engine"), Reply::bulk("LUA")),
                    (Reply::bulk("functions"), Reply::Array(functions)),
                ];
                if with_code {
                    fields.push((Reply::bulk("library_code"), Reply::Bulk(library.code.clone())));
                }
                Reply::Map(fields)
            })
            .collect();
        Reply::Array(libraries)
    }
}

fn registration(entry: &Table) -> Result<Registered, String> {
    let name: String = entry.raw_get("name").map_err(|err| err.to_string())?;
    let callback: Function = entry.raw_get("callback").map_err(|err| err.to_string())?;
    let description: Option<String> = entry.raw_get("description").ok().flatten();
    let mut flags = ScriptFlags { declared: true, ..ScriptFlags::default() };
    let mut flag_names = Vec::new();
    if let Ok(Value::Table(list)) = entry.raw_get::<Value>("flags") {
        for flag in list.sequence_values::<String>().filter_map(Result::ok) {
            match flag.as_str() {
                "no-writes" => flags.no_writes = true,
                "allow-oom" => flags.allow_oom = true,
                _ => {}
            }
            flag_names.push(flag);
        }
    }
    Ok(Registered { name, callback, flags, flag_names, description })
}
