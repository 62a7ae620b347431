//! Differential test of scripting (issue 12): generated `EVAL`/`EVALSHA`/`EVAL_RO` scripts calling
//! strings, hashes, sets and keyspace commands, and the error paths (a wrong-type call, `pcall`
//! catching it, a syntax error, a runtime error, a write in `EVAL_RO`, sandbox refusals), plus
//! `SCRIPT` and `FUNCTION`, against TinyKV and a real redis-server, in RESP2 and RESP3 (odd seeds),
//! replies compared byte for byte.

use tinykv_tests::differential::{self, Rng};

/// Script bodies, each with how many keys it takes; `{}` in a body is replaced by a random value.
const SCRIPTS: &[(&str, usize)] = &[
    ("return redis.call('GET', KEYS[1])", 1),
    ("return redis.call('SET', KEYS[1], ARGV[1])", 1),
    ("return redis.call('INCR', KEYS[1])", 1),
    ("return redis.pcall('INCR', KEYS[1])", 1),
    (
        "local v = redis.call('GET', KEYS[1]) if v then return redis.call('APPEND', KEYS[1], ARGV[1]) end return false",
        1,
    ),
    ("return redis.call('HSET', KEYS[1], 'f', ARGV[1], 'g', 2)", 1),
    ("return redis.call('HGETALL', KEYS[1])", 1),
    ("return redis.call('HINCRBY', KEYS[1], 'g', 3)", 1),
    ("return redis.call('SADD', KEYS[1], ARGV[1], 'm2')", 1),
    ("return redis.call('SISMEMBER', KEYS[1], ARGV[1])", 1),
    ("return redis.call('SCARD', KEYS[1])", 1),
    ("return redis.call('EXISTS', KEYS[1], KEYS[2])", 2),
    ("return redis.call('DEL', KEYS[1])", 1),
    ("return redis.call('TYPE', KEYS[1])", 1),
    ("return redis.call('EXPIRE', KEYS[1], 100)", 1),
    ("return redis.call('RENAME', KEYS[1], KEYS[2])", 2),
    ("return {redis.call('SET', KEYS[1], '{}'), redis.call('GET', KEYS[1]), 3.7, -2.5, true, false, 'x'}", 1),
    ("return {1, 2, nil, 4}", 0),
    ("return {ok='fine'}", 0),
    ("return {err='MYERR custom'}", 0),
    ("return redis.error_reply('bad thing')", 0),
    ("return redis.status_reply('QUEUED')", 0),
    ("return {double=3.25}", 0),
    ("return {map={a=1}}", 0),
    ("return {set={x=true}}", 0),
    ("return redis.call('TYPE', KEYS[1]).ok", 1),
    ("local ok, e = pcall(redis.call, 'INCR', KEYS[1]) return {tostring(ok), tostring(e)}", 1),
    ("return redis.pcall('HGET', KEYS[1], 'f')", 1),
    ("return redis.call('HGET', KEYS[1], 'f')", 1),
    ("return redis.call('nosuch')", 0),
    ("return redis.call('GET')", 0),
    ("return redis.call('SUBSCRIBE', 'c')", 0),
    ("return redis.call('SELECT', 1)", 0),
    ("error('boom')", 0),
    ("error({err='CODE boom'})", 0),
    ("local x = nil; return x.y", 0),
    ("return 1 +", 0),
    ("x = 1", 0),
    ("return os.time()", 0),
    ("return string.rep('ab', 3) .. string.format('%d', 42)", 0),
    ("return cjson.encode({1, 2, 'three'})", 0),
    ("return cjson.decode('{\"a\":[1,2,3]}').a[2]", 0),
    ("return bit.bxor(5, 3)", 0),
    ("return redis.sha1hex(ARGV[1])", 0),
    ("return #KEYS + #ARGV", 2),
    ("return tonumber(ARGV[1]) * 2.5", 0),
    ("redis.setresp(3) return redis.call('HGETALL', KEYS[1])", 1),
    ("redis.setresp(3) return redis.call('GET', 'nokey')", 0),
    ("redis.setresp(5) return 1", 0),
];

fn script(rng: &mut Rng) -> Vec<String> {
    let (body, keys) = SCRIPTS[rng.below(SCRIPTS.len())];
    let value = format!("{}", rng.below(20));
    let body = body.replace("{}", &value);
    let key = |rng: &mut Rng| ["k1", "k2", "h", "s"][rng.below(4)].to_owned();
    let mut words = vec![rng.pick(&["EVAL", "EVAL", "EVAL", "EVAL_RO", "EVALSHA"]).to_owned()];
    if words[0] == "EVALSHA" {
        words = vec!["EVALSHA".to_owned(), sha1(&body)];
    } else {
        words.push(body);
    }
    words.push(keys.to_string());
    for _ in 0..keys {
        words.push(key(rng));
    }
    words.push(value);
    words
}

fn sha1(body: &str) -> String {
    // The same digest as the servers' script cache (EVALSHA of a script not yet run: NOSCRIPT in both).
    let output = std::process::Command::new("sha1sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = output else { return "0".repeat(40) };
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(body.as_bytes());
    }
    let out = child.wait_with_output().map(|o| o.stdout).unwrap_or_default();
    String::from_utf8_lossy(&out).split(' ').next().unwrap_or_default().to_owned()
}

fn generate(rng: &mut Rng) -> Vec<String> {
    let words: Vec<&str> = match rng.below(10) {
        0 => vec!["SET", "k1", "5"],
        1 => vec!["SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "nosuch"],
        2 => vec!["SCRIPT", "LOAD", "return 1"],
        3 => vec!["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
        4 => vec!["EVAL", "return 1", "-1"],
        5 => vec!["EVAL", "return 1", "3", "a"],
        _ => return script(rng),
    };
    words.into_iter().map(str::to_owned).collect()
}

#[test]
fn scripts_agree_with_redis() {
    let Some(compared) = differential::run(&[], 8, 300, generate, differential::agree) else { return };
    assert_eq!(compared, 8 * 300);
}

/// `FUNCTION LOAD`, `FCALL`, `FCALL_RO`, `FUNCTION LIST|DELETE|FLUSH` and their errors, in order.
fn function_steps() -> Vec<Vec<String>> {
    let lib = "#!lua name=mylib\nredis.register_function('getk', function(keys, args) return redis.call('GET', keys[1]) end)\nredis.register_function{function_name='setk', callback=function(keys, args) return redis.call('SET', keys[1], args[1]) end}\nredis.register_function{function_name='ro', callback=function(keys, args) return #args end, flags={'no-writes'}}";
    let lib2 = "#!lua name=lib2\nredis.register_function{function_name='only', callback=function() return 'x' end, flags={'no-writes'}, description='d'}";
    let steps: Vec<Vec<&str>> = vec![
        vec!["FUNCTION", "LOAD", "return 1"],
        vec!["FUNCTION", "LOAD", lib],
        vec!["FUNCTION", "LOAD", lib],
        vec!["FCALL", "setk", "1", "k", "v"],
        vec!["FCALL", "getk", "1", "k"],
        vec!["FCALL_RO", "getk", "1", "k"],
        vec!["FCALL_RO", "ro", "0", "a", "b"],
        vec!["FCALL", "nosuch", "0"],
        // One function per listed library: Redis lists a library's functions in hash order.
        vec!["FUNCTION", "LOAD", lib2],
        vec!["FUNCTION", "LIST", "LIBRARYNAME", "lib2*"],
        vec!["FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "lib2"],
        vec!["FCALL", "only", "0"],
        vec!["FUNCTION", "RESTORE", "garbage"],
        vec!["FUNCTION", "RESTORE", "garbage", "BOGUS"],
        vec!["FUNCTION", "LOAD", "REPLACE", lib],
        vec!["FUNCTION", "DELETE", "nosuch"],
        vec!["FUNCTION", "DELETE", "mylib"],
        vec!["FCALL", "getk", "1", "k"],
        vec!["FUNCTION", "LOAD", "#!lua name=bad\nlocal x = 1"],
        vec!["FUNCTION", "LOAD", "#!lua name=bad\nredis.call('GET', 'x')"],
        vec!["FUNCTION", "DUMP"],
        vec!["FUNCTION", "FLUSH"],
        vec!["FUNCTION", "LIST"],
        vec!["FUNCTION", "DUMP"],
    ];
    steps.into_iter().map(|s| s.into_iter().map(str::to_owned).collect()).collect()
}

#[test]
fn functions_agree_with_redis() {
    let steps = function_steps();
    let next = std::cell::Cell::new(0);
    let generate = |_: &mut Rng| {
        let i = next.get();
        next.set(i + 1);
        steps[i % steps.len()].clone()
    };
    let Some(compared) = differential::run(&[], 2, steps.len(), generate, differential::agree) else { return };
    assert_eq!(compared, 2 * steps.len());
}
