//! Filtering inside the graph walk, without the exact-scan fallback that
//! `FaceIndex::search` uses for selective filters: the walk alone must agree
//! with brute force on the filtered vectors, for a filter that keeps whole
//! identities (like a case attribute) and one that keeps single faces.
//!
//! The same check on real embeddings (LFW) is a bench mode, since it needs
//! the data set: `cargo bench -p homeward-core --bench hnsw -- --vectors
//! FILE.jsonl` (see docs/adr-index.md).

#[path = "support/synth.rs"]
mod synth;

use homeward_core::index::{FlatIndex, HnswIndex, HnswParams, VectorIndex};
use synth::{dataset, queries};

/// A reproducible hash in [0, 100) standing for an attribute.
fn bucket(x: u64, salt: u64) -> u64 {
    let mut z = (x ^ salt).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % 100
}

#[test]
fn in_graph_filters_agree_with_brute_force_on_filtered_vectors() {
    let (centres, vecs, owner) = dataset(21, 2500, 5);
    let mut graph = HnswIndex::new(HnswParams::default(), vecs.len());
    let items: Vec<(u64, &[f32; 128])> = vecs
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u64, v))
        .collect();
    graph.insert_batch(&items).unwrap();
    let mut flat = FlatIndex::new();
    for (i, v) in vecs.iter().enumerate() {
        flat.insert(i as u64, v).unwrap();
    }
    let per_identity_half = |id: u64| bucket(owner[id as usize] as u64, 1) < 50;
    let per_face_tenth = |id: u64| bucket(id, 2) < 10;
    let filters: [(&str, &(dyn Fn(u64) -> bool + Sync)); 2] = [
        ("identity 50%", &per_identity_half),
        ("face 10%", &per_face_tenth),
    ];
    let qs = queries(5, &centres, 100);
    for (name, accept) in filters {
        let passing = (0..vecs.len() as u64).filter(|&i| accept(i)).count();
        assert!(
            passing > vecs.len() / 20 && passing < vecs.len() * 3 / 4,
            "{name}: {passing} pass"
        );
        let (mut found, mut wanted) = (0usize, 0usize);
        for q in &qs {
            let truth: Vec<u64> = flat
                .search(q, 10, Some(accept))
                .unwrap()
                .iter()
                .map(|h| h.id)
                .collect();
            let got = graph
                .search_ef(q, 10, HnswParams::default().ef_search, Some(accept))
                .unwrap();
            assert_eq!(got.len(), 10, "{name}: the walk returned a short list");
            assert!(got.iter().all(|h| accept(h.id)), "{name}: filter leaked");
            assert!(
                got.windows(2).all(|w| w[0].distance <= w[1].distance),
                "{name}: not nearest first"
            );
            found += got.iter().filter(|h| truth.contains(&h.id)).count();
            wanted += truth.len();
        }
        let recall = found as f64 / wanted as f64;
        assert!(
            recall >= 0.99,
            "{name} ({passing} pass): recall@10 {recall}"
        );
    }
}
