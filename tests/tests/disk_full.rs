//! A full disk under the append-only file: writes are refused with Redis's `MISCONF` error while
//! reads go on, nothing acknowledged is lost or half-written, and writes come back by themselves
//! once there is room again.
//!
//! The file lives on a 1 MiB tmpfs mounted by the test (root only: elsewhere the test says why it
//! skips and passes). A ballast file takes part of it, so deleting the ballast gives space back.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use tinykv_tests::{read_reply, resp, retry_until, Server};

const MISCONF: &str = "-MISCONF Errors writing to the AOF file: No space left on device\r\n";

/// A tmpfs of a fixed size, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` reads it), or says why it could not.
    fn mount(name: &str, size: &str) -> Result<Tmpfs, String> {
        let dir = std::env::temp_dir().join(format!("tinykv-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("running mount: {e}"));
        match output {
            Ok(output) if output.status.success() => Ok(Tmpfs { dir }),
            Ok(output) => {
                let _ = std::fs::remove_dir(&dir);
                Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
            }
            Err(err) => {
                let _ = std::fs::remove_dir(&dir);
                Err(err)
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn start(aof: &Path, fsync: &str) -> Server {
    Server::start_with(&["--no-greeting", "--appendonly", aof.to_str().unwrap(), "--appendfsync", fsync])
}

fn reply_text(stream: &mut TcpStream) -> String {
    String::from_utf8_lossy(&read_reply(stream)).into_owned()
}

fn call(stream: &mut TcpStream, args: &[&str]) -> String {
    let args: Vec<&[u8]> = args.iter().map(|arg| arg.as_bytes()).collect();
    stream.write_all(&resp(&args)).unwrap();
    reply_text(stream)
}

fn disk_full(fsync: &str) {
    let disk = match Tmpfs::mount(&format!("disk-full-{fsync}"), "1m") {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("skipping the disk-full test: cannot mount a tmpfs ({why})");
            return;
        }
    };
    let ballast = disk.dir.join("ballast");
    std::fs::write(&ballast, vec![0u8; 256 << 10]).unwrap();
    let aof = disk.dir.join("appendonly.aof");
    let server = start(&aof, fsync);
    let mut con = server.connect();
    let value = "x".repeat(1000);

    // Fill the disk with pipelines of (SET key:i, GET key:0) until writes are refused. Each pipeline
    // spans several of the server's batches, so the failing commit lands in the middle of one.
    let mut acknowledged = 0usize;
    // The file starts with the `SELECT 0` of the first record.
    let mut file_len = resp(&[b"SELECT", b"0"]).len();
    let mut refused = false;
    let mut next = 0usize;
    while !refused {
        let keys: Vec<String> = (next..next + 20).map(|i| format!("key:{i}")).collect();
        next += keys.len();
        let mut pipeline = Vec::new();
        for key in &keys {
            pipeline.extend(resp(&[b"SET", key.as_bytes(), value.as_bytes()]));
            pipeline.extend(resp(&[b"GET", b"key:0"]));
        }
        con.write_all(&pipeline).unwrap();
        for key in &keys {
            match reply_text(&mut con).as_str() {
                "+OK\r\n" => {
                    assert!(!refused, "{fsync}: a write was acknowledged after one was refused");
                    assert_eq!(acknowledged, key[4..].parse::<usize>().unwrap());
                    acknowledged += 1;
                    file_len += resp(&[b"SET", key.as_bytes(), value.as_bytes()]).len();
                }
                reply => {
                    assert_eq!(reply, MISCONF, "{fsync}: reply to SET {key}");
                    refused = true;
                }
            }
            // Every read in the pipeline is answered, before and after the failure.
            assert_eq!(reply_text(&mut con), format!("${}\r\n{value}\r\n", value.len()), "{fsync}");
        }
        assert!(next < 10_000, "{fsync}: the disk never filled");
    }
    assert!(acknowledged > 100, "{fsync}: only {acknowledged} writes fit");
    // The partial record was cut off: the file is exactly the acknowledged writes, whole.
    assert_eq!(std::fs::metadata(&aof).unwrap().len() as usize, file_len, "{fsync}");

    // Every write command is refused before it runs; reads go on.
    assert_eq!(call(&mut con, &["SET", "new", "1"]), MISCONF);
    assert_eq!(call(&mut con, &["INCR", "counter"]), MISCONF);
    assert_eq!(call(&mut con, &["DEL", "key:1"]), MISCONF);
    assert_eq!(call(&mut con, &["GET", "new"]), "$-1\r\n");
    assert_eq!(call(&mut con, &["EXISTS", "key:1"]), ":1\r\n");
    let mut other = server.connect();
    assert_eq!(call(&mut other, &["SET", "new", "2"]), MISCONF);
    assert_eq!(call(&mut other, &["STRLEN", "key:0"]), ":1000\r\n");
    // The log is read from the server's stderr by another thread: wait for the line, then count.
    retry_until("the failure to be logged", || {
        server.log().contains("writing the append-only file failed").then_some(())
    });
    assert_eq!(
        server.log().matches("writing the append-only file failed").count(),
        1,
        "{fsync}: the failure is logged once:\n{}",
        server.log()
    );

    // Room again: within a second's retry, writes are accepted, with no restart.
    std::fs::remove_file(&ballast).unwrap();
    retry_until("writes to be accepted again", || (call(&mut con, &["SET", "after", "1"]) == "+OK\r\n").then_some(()));
    for i in 0..50 {
        assert_eq!(call(&mut other, &["SET", &format!("later:{i}"), &value]), "+OK\r\n");
    }
    // The log is read from the server's stderr by another thread: give the line time to arrive.
    retry_until("the recovery to be logged", || server.log().contains("error looks solved").then_some(()));

    // The file needs no fsync to outlive the process: kill -9 and start again from it.
    server.signal(libc::SIGKILL);
    drop(server);
    let server = start(&aof, fsync);
    assert!(!server.log().contains("cut-off"), "{fsync}: {}", server.log());
    let mut con = server.connect();
    for i in 0..acknowledged {
        let reply = call(&mut con, &["STRLEN", &format!("key:{i}")]);
        assert_eq!(reply, ":1000\r\n", "{fsync}: acknowledged key:{i} after restart");
    }
    assert_eq!(call(&mut con, &["GET", "after"]), "$1\r\n1\r\n");
    assert_eq!(call(&mut con, &["EXISTS", "later:0", "later:49"]), ":2\r\n");
    assert_eq!(call(&mut con, &["GET", "new"]), "$-1\r\n", "a refused write must not reappear");
    assert!(server.stop().success());
}

#[test]
fn a_full_disk_refuses_writes_keeps_reads_and_loses_nothing_everysec() {
    disk_full("everysec");
}

#[test]
fn a_full_disk_refuses_writes_keeps_reads_and_loses_nothing_always() {
    disk_full("always");
}
