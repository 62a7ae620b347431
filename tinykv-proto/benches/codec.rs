//! Codec throughput: decoding pipelined request batches and encoding reply batches, in bytes/s.
//!
//! `cargo bench -p tinykv-proto` (criterion prints MB/s; HTML reports land in `target/criterion`).

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tinykv_proto::codec::encode_request;
use tinykv_proto::{Limits, Protocol, Reply, ServerCodec};
use tokio_util::codec::Decoder;

/// Requests per batch: one pipelined read's worth.
const BATCH: usize = 1_000;

/// `BATCH` RESP arrays `SET key:N value:N`, back to back, as redis-benchmark pipelines them.
fn resp_set_batch() -> Bytes {
    let mut buf = BytesMut::new();
    for i in 0..BATCH {
        let key = format!("key:{i:012}");
        let value = format!("value:{i:010}");
        encode_request(&[b"SET".as_slice(), key.as_bytes(), value.as_bytes()], &mut buf);
    }
    buf.freeze()
}

/// `BATCH` inline requests `SET key:N value:N\r\n` (the original TinyKV protocol, redis-cli's PING_INLINE).
fn inline_set_batch() -> Bytes {
    let mut buf = BytesMut::new();
    for i in 0..BATCH {
        buf.extend_from_slice(format!("SET key:{i:012} value:{i:010}\r\n").as_bytes());
    }
    buf.freeze()
}

/// Decodes every request in `buf` with a fresh codec, as one connection's read buffer would be.
fn decode_all(buf: &mut BytesMut) -> usize {
    let mut codec = ServerCodec::new(Limits::default());
    let mut n = 0;
    while let Some(request) = codec.decode(buf).expect("valid batch") {
        black_box(&request);
        n += 1;
    }
    assert_eq!(n, BATCH);
    n
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (name, batch) in [("resp_set_x1000", resp_set_batch()), ("inline_set_x1000", inline_set_batch())] {
        group.throughput(Throughput::Bytes(batch.len() as u64));
        group.bench_function(name, |b| {
            b.iter_batched_ref(|| BytesMut::from(&batch[..]), |buf| decode_all(black_box(buf)), BatchSize::SmallInput)
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    let replies: Vec<Reply> = (0..BATCH).map(|i| Reply::bulk(format!("value:{i:010}"))).collect();
    let mut probe = BytesMut::new();
    for reply in &replies {
        reply.encode(Protocol::Resp2, &mut probe);
    }
    let bytes = probe.len();
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("bulk_x1000", |b| {
        b.iter_batched_ref(
            || BytesMut::with_capacity(bytes),
            |dst| {
                for reply in &replies {
                    reply.encode(Protocol::Resp2, dst);
                }
                black_box(dst.len())
            },
            BatchSize::SmallInput,
        )
    });
    let keys: Vec<String> = (0..BATCH).map(|i| format!("key:{i:012}")).collect();
    let request_bytes = resp_set_batch().len();
    group.throughput(Throughput::Bytes(request_bytes as u64));
    group.bench_function("request_set_x1000", |b| {
        b.iter_batched_ref(
            || BytesMut::with_capacity(request_bytes),
            |dst| {
                for key in &keys {
                    encode_request(&[b"SET".as_slice(), key.as_bytes(), b"value:0000000000".as_slice()], dst);
                }
                black_box(dst.len())
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
