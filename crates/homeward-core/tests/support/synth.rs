//! Synthetic face-like embeddings for tests and benchmarks.
//!
//! Model: every identity has a centre `c = μ + s ⊙ σ_id · N(0, I)` and each
//! photo of it is `c + s ⊙ σ_photo · N(0, I)`, where `μ` is a shared mean
//! (dlib embeddings are not centred or normalised) and `s` a per-dimension
//! scale decaying as `exp(-j/48)`, normalised to mean square 1, so variance
//! is concentrated in fewer directions as in real embeddings. With
//! `σ_photo = 0.42/16` and `σ_id` chosen so that `σ_id² + σ_photo² = 0.9²/256`,
//! the expected same-identity distance is ≈ 0.42 and the different-identity
//! distance ≈ 0.9, the typical dlib figures (threshold 0.6).
//!
//! Other dimensions (`dataset_d::<512>`, for the index at another model's
//! dimension) keep both distances: the scale decays as `exp(-j·128/(48·D))`
//! and the σ's are divided by `√(2D)` instead of 16 (the same numbers at 128).
#![allow(dead_code)]

pub const DIM: usize = 128;

/// splitmix64: small, fast, reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn gauss(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// The generator at 128 dimensions (dlib's).
pub type FaceSynth = FaceSynthD<DIM>;

/// The generator at `D` dimensions.
pub struct FaceSynthD<const D: usize> {
    pub mean: [f32; D],
    pub scale: [f32; D],
    pub sigma_id: f32,
    pub sigma_photo: f32,
}

impl<const D: usize> FaceSynthD<D> {
    pub fn new(rng: &mut Rng) -> Self {
        let mut scale = [0f32; D];
        let decay = 48.0 * D as f32 / DIM as f32;
        for (j, s) in scale.iter_mut().enumerate() {
            *s = (-(j as f32) / decay).exp();
        }
        let ms = (scale.iter().map(|s| s * s).sum::<f32>() / D as f32).sqrt();
        scale.iter_mut().for_each(|s| *s /= ms);
        let mut mean = [0f32; D];
        mean.iter_mut()
            .for_each(|m| *m = (rng.gauss() * 0.04) as f32);
        let two_d = 2.0 * D as f32;
        let sigma_photo = 0.42 / two_d.sqrt();
        let sigma_id = ((0.9f32 * 0.9) / two_d - sigma_photo * sigma_photo).sqrt();
        FaceSynthD {
            mean,
            scale,
            sigma_id,
            sigma_photo,
        }
    }

    pub fn identity(&self, rng: &mut Rng) -> [f32; D] {
        let mut c = self.mean;
        for (x, s) in c.iter_mut().zip(&self.scale) {
            *x += s * self.sigma_id * rng.gauss() as f32;
        }
        c
    }

    pub fn photo(&self, centre: &[f32; D], rng: &mut Rng) -> [f32; D] {
        let mut v = *centre;
        for (x, s) in v.iter_mut().zip(&self.scale) {
            *x += s * self.sigma_photo * rng.gauss() as f32;
        }
        v
    }
}

/// `n_ids` identities with 1..=max_photos photos each. Returns
/// (identity centres, vectors, identity of each vector).
pub fn dataset(
    seed: u64,
    n_ids: usize,
    max_photos: u64,
) -> (Vec<[f32; DIM]>, Vec<[f32; DIM]>, Vec<usize>) {
    dataset_d::<DIM>(seed, n_ids, max_photos)
}

/// [`dataset`] at dimension `D`.
pub fn dataset_d<const D: usize>(
    seed: u64,
    n_ids: usize,
    max_photos: u64,
) -> (Vec<[f32; D]>, Vec<[f32; D]>, Vec<usize>) {
    let mut rng = Rng(seed);
    let synth = FaceSynthD::<D>::new(&mut rng);
    let mut centres = Vec::with_capacity(n_ids);
    let mut vecs = Vec::new();
    let mut owner = Vec::new();
    for i in 0..n_ids {
        let c = synth.identity(&mut rng);
        for _ in 0..1 + rng.below(max_photos) {
            vecs.push(synth.photo(&c, &mut rng));
            owner.push(i);
        }
        centres.push(c);
    }
    (centres, vecs, owner)
}

/// Queries: a fresh photo of a random known identity (the sighting).
pub fn queries(seed: u64, centres: &[[f32; DIM]], n: usize) -> Vec<[f32; DIM]> {
    queries_d::<DIM>(seed, centres, n)
}

/// [`queries`] at dimension `D`.
pub fn queries_d<const D: usize>(seed: u64, centres: &[[f32; D]], n: usize) -> Vec<[f32; D]> {
    let mut rng = Rng(seed);
    let synth = FaceSynthD::<D>::new(&mut Rng(0x5EED));
    (0..n)
        .map(|_| {
            let c = &centres[rng.below(centres.len() as u64) as usize];
            synth.photo(c, &mut rng)
        })
        .collect()
}
