//! twemproxy (Debian's `nutcracker`) in front of three TinyKV shards started with their default flags:
//! keys spread over the shards, hash tags keep related keys on one, `redis_auth` authenticates the
//! proxy to the shards and the clients to the proxy, a dead shard is ejected (its keys go to the
//! others) and comes back. What twemproxy does not pass on (HELLO, CLIENT, SELECT, INFO, KEYS) closes
//! the client's connection: clients must speak RESP2 and skip their handshake (redis-py `protocol=2`).
//! Without `nutcracker` the test prints why and passes.

use std::net::TcpStream;
use std::process::Command;

use tinykv_tests::{call_str, free_port, retry_until, run_redis_py, try_call, Daemon, Server, DEADLINE};

fn start_proxy(dir: &std::path::Path, shards: &[u16]) -> Option<Daemon> {
    let (port, stats) = (free_port(), free_port());
    let servers: String = shards.iter().enumerate().map(|(i, p)| format!("   - 127.0.0.1:{p}:1 s{i}\n")).collect();
    let conf = format!(
        "alpha:\n  listen: 127.0.0.1:{port}\n  hash: fnv1a_64\n  hash_tag: \"{{}}\"\n  distribution: ketama\n  \
         auto_eject_hosts: true\n  server_retry_timeout: 1000\n  server_failure_limit: 1\n  redis: true\n  \
         redis_auth: secret\n  timeout: 1000\n  servers:\n{servers}"
    );
    let path = dir.join("nutcracker.yml");
    std::fs::write(&path, conf).expect("write nutcracker.yml");
    // Debian installs it in /usr/sbin, which a user's PATH may lack.
    let program = if which("nutcracker") { "nutcracker" } else { "/usr/sbin/nutcracker" };
    let mut command = Command::new(program);
    command.arg("-c").arg(&path).args(["-s", &stats.to_string(), "-o"]).arg(dir.join("nutcracker.log"));
    Daemon::start(command, port, "nutcracker (Debian: apt-get install nutcracker)")
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).exists()))
}

fn client(proxy: &Daemon) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", proxy.port)).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    assert_eq!(call_str(&mut stream, &["AUTH", "secret"]), "+OK\r\n");
    stream
}

fn dbsize(port: u16) -> i64 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    assert_eq!(call_str(&mut stream, &["AUTH", "secret"]), "+OK\r\n");
    call_str(&mut stream, &["DBSIZE"]).trim_start_matches(':').trim().parse().expect("DBSIZE")
}

#[test]
fn twemproxy_shards_over_tinykv() {
    let mut shards: Vec<Server> = (0..3).map(|_| Server::start_with(&["--requirepass", "secret"])).collect();
    let ports: Vec<u16> = shards.iter().map(Server::port).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(proxy) = start_proxy(dir.path(), &ports) else { return };

    // Without AUTH the proxy itself refuses.
    let mut anonymous = TcpStream::connect(("127.0.0.1", proxy.port)).expect("connect");
    anonymous.set_read_timeout(Some(DEADLINE)).unwrap();
    assert!(call_str(&mut anonymous, &["GET", "k"]).starts_with("-NOAUTH"));

    // Spread: every shard holds some of 300 keys, none is lost, and every GET through the proxy
    // gets its value (no greeting in the way, with the shards' default --greeting auto).
    let mut stream = client(&proxy);
    for i in 0..300 {
        assert_eq!(call_str(&mut stream, &["SET", &format!("key:{i}"), &format!("v{i}")]), "+OK\r\n");
    }
    for i in 0..300 {
        let value = format!("v{i}");
        assert_eq!(call_str(&mut stream, &["GET", &format!("key:{i}")]), format!("${}\r\n{value}\r\n", value.len()));
    }
    let sizes: Vec<i64> = ports.iter().map(|&p| dbsize(p)).collect();
    assert_eq!(sizes.iter().sum::<i64>(), 300, "{sizes:?}");
    assert!(sizes.iter().all(|&n| n > 0), "a shard got nothing: {sizes:?}");
    let mget = call_str(&mut stream, &["MGET", "key:1", "key:2", "key:3", "nosuch"]);
    assert_eq!(mget, "*4\r\n$2\r\nv1\r\n$2\r\nv2\r\n$2\r\nv3\r\n$-1\r\n");

    // Hash tags: keys sharing {user:7} are on one shard.
    for field in ["name", "mail", "age", "plan"] {
        assert_eq!(call_str(&mut stream, &["SET", &format!("{{user:7}}:{field}"), "x"]), "+OK\r\n");
    }
    let holding: Vec<u16> = ports
        .iter()
        .copied()
        .filter(|&p| {
            let mut s = TcpStream::connect(("127.0.0.1", p)).expect("connect");
            s.set_read_timeout(Some(DEADLINE)).unwrap();
            call_str(&mut s, &["AUTH", "secret"]);
            call_str(&mut s, &["EXISTS", "{user:7}:name", "{user:7}:mail", "{user:7}:age", "{user:7}:plan"]) == ":4\r\n"
        })
        .collect();
    assert_eq!(holding.len(), 1, "hash-tagged keys split over shards");

    // What twemproxy does not pass on closes the connection.
    for refused in
        [&["HELLO", "3"][..], &["CLIENT", "SETINFO", "lib-name", "x"], &["SELECT", "1"], &["INFO"], &["KEYS", "*"]]
    {
        let mut s = client(&proxy);
        assert_eq!(try_call(&mut s, refused), None, "{refused:?} went through");
    }

    // redis-py through the proxy: RESP2 and no CLIENT SETINFO on connect; its defaults are refused.
    let script = r#"
import sys, warnings
import redis
warnings.simplefilter("ignore")
port = int(sys.argv[1])
r = redis.Redis(port=port, password="secret", protocol=2, lib_name=None, lib_version=None)
r.set("py", "1")
assert r.get("py") == b"1"
try:
    redis.Redis(port=port, password="secret").get("py")
    raise SystemExit("the defaults went through")
except redis.ConnectionError:
    pass
"#;
    run_redis_py(script, &[proxy.port.to_string()]);

    // A shard dies: its keys fail until it is ejected, then land on the others.
    let dead = shards.remove(1);
    let dead_port = dead.port();
    drop(dead);
    let writes_succeed = || {
        let mut s = client(&proxy);
        (0..50)
            .all(|i| try_call(&mut s, &["SET", &format!("after:{i}"), "1"]).as_deref() == Some("+OK\r\n"))
            .then_some(())
    };
    retry_until("the dead shard to be ejected", writes_succeed);
    // It comes back (on its port, empty): after the retry timeout the proxy sends its keys to it again.
    let back = Server::start_with(&["--requirepass", "secret", "--port", &dead_port.to_string()]);
    retry_until("the shard to be used again", || {
        let mut s = client(&proxy);
        for i in 0..100 {
            try_call(&mut s, &["SET", &format!("back:{i}"), "1"])?;
        }
        (dbsize(back.port()) > 0).then_some(())
    });
}
