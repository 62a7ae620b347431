//! Big replies go out in pieces (issue 9): a reply of hundreds of thousands of elements is encoded
//! a high-water mark at a time while the rest waits as values, so the server never holds it twice;
//! what the client receives is the same bytes, in order with the replies around it; and a client
//! that stops reading one is disconnected by `--client-output-buffer-limit-normal`.

use std::io::{Read, Write};
use std::time::Duration;

use tinykv_tests::{call_str, proc_status_kib, read_reply, resp, retry_until, Server};

const VALUE: usize = 1024;

fn fill(con: &mut redis::Connection, keys: usize) {
    let value = vec![b'v'; VALUE];
    for batch in 0..keys / 1000 {
        let mut pipe = redis::pipe();
        for i in batch * 1000..(batch + 1) * 1000 {
            pipe.cmd("SET").arg(format!("key:{i:07}")).arg(&value).ignore();
        }
        let _: () = pipe.query(con).unwrap();
    }
}

fn mget(keys: usize) -> Vec<u8> {
    let names: Vec<String> = (0..keys).map(|i| format!("key:{i:07}")).collect();
    let mut args: Vec<&[u8]> = vec![b"MGET"];
    args.extend(names.iter().map(|n| n.as_bytes()));
    resp(&args)
}

#[test]
fn a_big_reply_arrives_whole_and_in_order_without_a_second_copy() {
    const KEYS: usize = 100_000;
    let server = Server::start_with(&["--no-greeting"]);
    fill(&mut server.redis(), KEYS);
    let peak_before = proc_status_kib(server.pid(), "VmHWM");
    let mut client = server.connect();
    // MGET of every key, then two small commands in the same write: their replies come after it.
    let mut request = mget(KEYS);
    request.extend_from_slice(&resp(&[b"PING"]));
    request.extend_from_slice(&resp(&[b"GET", b"key:0000007"]));
    client.write_all(&request).unwrap();
    let reply = read_reply(&mut client);
    let element = format!("${VALUE}\r\n{}\r\n", "v".repeat(VALUE));
    let expected_len = format!("*{KEYS}\r\n").len() + KEYS * element.len();
    assert_eq!(reply.len(), expected_len);
    assert!(reply.starts_with(format!("*{KEYS}\r\n{element}").as_bytes()));
    assert_eq!(read_reply(&mut client), b"+PONG\r\n");
    assert_eq!(read_reply(&mut client), format!("${VALUE}\r\n{}\r\n", "v".repeat(VALUE)).into_bytes());
    // The values copied for the reply (~100 MiB) once, not again as encoded bytes.
    let peak_mib = proc_status_kib(server.pid(), "VmHWM").saturating_sub(peak_before) / 1024;
    let data_mib = (KEYS * VALUE) as u64 >> 20;
    assert!(peak_mib < data_mib * 3 / 2, "peak RSS grew {peak_mib} MiB for a {data_mib} MiB reply");
}

#[test]
fn another_client_is_served_while_a_big_reply_waits_for_a_slow_reader() {
    const KEYS: usize = 20_000;
    let server = Server::start_with(&["--no-greeting"]);
    fill(&mut server.redis(), KEYS);
    let mut slow = server.connect();
    assert_eq!(call_str(&mut slow, &["CLIENT", "SETNAME", "slow"]), "+OK\r\n");
    slow.write_all(&mget(KEYS)).unwrap();
    // The slow client reads nothing yet: its reply waits, and another client is answered meanwhile.
    std::thread::sleep(Duration::from_millis(200));
    let mut other = server.connect();
    for _ in 0..10 {
        assert_eq!(call_str(&mut other, &["PING"]), "+PONG\r\n");
    }
    let reply = read_reply(&mut slow);
    assert!(reply.starts_with(format!("*{KEYS}\r\n").as_bytes()));
    // Its reply buffer never held the ~20 MiB reply at once, only pieces of about --output-high-water
    // (1 MiB): CLIENT LIST's rbp is the peak of the buffer.
    let list = call_str(&mut other, &["CLIENT", "LIST"]);
    let line = list.lines().find(|line| line.contains(" name=slow ")).expect("the slow client in CLIENT LIST");
    let peak: u64 = line.split(' ').find_map(|f| f.strip_prefix("rbp=")).and_then(|v| v.parse().ok()).expect("rbp");
    assert!(peak < 4 << 20, "reply buffer peaked at {peak} bytes for a {} byte reply", reply.len());
}

#[test]
fn a_client_that_stops_reading_a_big_reply_is_cut_off_by_the_normal_limit() {
    const KEYS: usize = 100_000;
    let server = Server::start_with(&["--no-greeting", "--client-output-buffer-limit-normal", "32mb 0 0"]);
    let mut admin = server.redis();
    fill(&mut admin, KEYS);
    let mut slow = server.connect();
    slow.write_all(&mget(KEYS)).unwrap();
    retry_until("the non-reader to be disconnected", || {
        let info: String = redis::cmd("INFO").arg("stats").query(&mut admin).ok()?;
        info.contains("client_output_buffer_limit_disconnections:1").then_some(())
    });
    // Its connection is closed: reading drains what was sent, then ends.
    slow.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut sink = Vec::new();
    let _ = slow.read_to_end(&mut sink);
    assert!(sink.len() < KEYS * VALUE, "the whole reply was not sent: {} bytes", sink.len());
    // A small reply is never cut off, whatever the limit.
    let pong: String = redis::cmd("PING").query(&mut admin).unwrap();
    assert_eq!(pong, "PONG");
}
