//! A length in an RDB file is a claim, not a fact: loading files that claim hundreds of MiB and hold
//! a few bytes fails cleanly and maps no memory for the claim. Measured on the process's peak virtual
//! size (`VmPeak`), which any allocation of the claimed size would raise even if never touched; this
//! file holds one test so nothing else allocates meanwhile.

use tinykv_server::db::{now_ms, Db};
use tinykv_server::rdb::decode::load_reader;

fn vm_peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmPeak:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmPeak in /proc/self/status")
}

#[test]
fn lying_lengths_map_no_memory() {
    let dbs: Vec<Db> = (0..16).map(|_| Db::new(4)).collect();
    let header = b"REDIS0010\xfe\x00".to_vec();
    let files: Vec<(Vec<u8>, &str)> = vec![
        // A value of 512 MiB - 1 (under the cap), 16 bytes present.
        ([&header[..], b"\x00\x03key\x80\x1f\xff\xff\xffonly a few bytes"].concat(), "truncated"),
        // A key of the same size.
        ([&header[..], b"\x00\x80\x1f\xff\xff\xffshort"].concat(), "truncated"),
        // LZF: 500 MiB announced from a 3-byte body.
        ([&header[..], b"\x00\x03key\xc3\x03\x80\x1f\x40\x00\x00\x00a\x00"].concat(), "LZF"),
        // LZF whose compressed part claims 500 MiB.
        ([&header[..], b"\x00\x03key\xc3\x80\x1f\x40\x00\x00\x05abc"].concat(), "truncated"),
        // A resize hint of 2^62 keys, then an end.
        (
            [&header[..], b"\xfb\x81\x40\x00\x00\x00\x00\x00\x00\x00\x81\x40\x00\x00\x00\x00\x00\x00\x00"].concat(),
            "truncated",
        ),
        // A 64-bit length past the cap.
        ([&header[..], b"\x00\x81\x7f\xff\xff\xff\xff\xff\xff\xff"].concat(), "512 MiB"),
    ];
    let before = vm_peak_kib();
    for (file, expected) in &files {
        let (offset, what) = load_reader(&file[..], &dbs, now_ms()).expect_err("a lying file must not load");
        assert!(offset.is_some() && what.contains(expected), "{what}");
    }
    let grown = vm_peak_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "loading lying files raised the peak virtual size by {grown} KiB");
}
