//! Hamming-radius query time: multi-index hashing vs a full popcount scan.
//!
//! `cargo bench -p homeward-core --bench hamming`; set `HOMEWARD_BENCH_N` to
//! change the index size (default 10 000 000 random 256-bit hashes). Each
//! query is a stored hash with 16 random bits flipped, searched at radius 31
//! (PDQ's usual threshold) and 47 (the largest radius the tables serve).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use homeward_core::hash::{HammingIndex, Hash256, HashKind};

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn bench(c: &mut Criterion) {
    let n: u64 = std::env::var("HOMEWARD_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let mut rng = SplitMix(7);
    let entries: Vec<(u64, Hash256)> = (0..n)
        .map(|id| {
            (
                id,
                Hash256([rng.next(), rng.next(), rng.next(), rng.next()]),
            )
        })
        .collect();
    let queries: Vec<Hash256> = (0..64)
        .map(|_| {
            let mut q = entries[(rng.next() % n) as usize].1;
            let mut flipped = 0;
            while flipped < 16 {
                let bit = (rng.next() % 256) as usize;
                let before = q;
                q.0[bit / 64] ^= 1 << (bit % 64);
                if q != before {
                    flipped += 1;
                }
            }
            q
        })
        .collect();
    let index = match HammingIndex::from_entries(HashKind::Pdq, entries) {
        Ok(index) => index,
        Err(e) => panic!("building the bench index failed: {e}"),
    };

    let mut group = c.benchmark_group(format!("hamming_{n}"));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    for radius in [31u32, 47] {
        let mut k = 0;
        group.bench_function(format!("mih_r{radius}"), |b| {
            b.iter(|| {
                k = (k + 1) % queries.len();
                black_box(index.query(black_box(&queries[k]), radius))
            })
        });
        let mut k = 0;
        group.bench_function(format!("scan_r{radius}"), |b| {
            b.iter(|| {
                k = (k + 1) % queries.len();
                black_box(index.query_brute_force(black_box(&queries[k]), radius))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
