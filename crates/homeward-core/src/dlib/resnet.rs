//! dlib's face recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`):
//! a 150×150 RGB face chip in, a 128-d embedding out.
//!
//! The definition follows dlib's `dnn_face_recognition_ex.cpp` (input side first):
//!
//! ```text
//! con 32 7x7/2, affine, relu, max_pool 3x3/2
//! 3 × ares(32)
//! ares_down(64), 3 × ares(64)
//! ares_down(128), 2 × ares(128)
//! ares_down(256), 2 × ares(256)
//! ares_down(256)
//! avg_pool over everything, fc 128 without bias
//! ```
//!
//! `ares(n)` is a residual block of two 3×3 convolutions; `ares_down(n)`
//! starts with a stride-2 convolution and average-pools its shortcut.

use ndarray::{Array1, Array3};

use super::format::Reader;

use super::net::{
    compile, multiply_adds, read_layers, run_observed, Dims, InputLayer, Layer, Op, Step,
};
use super::{verify, ModelError, ModelKind};
use crate::nn::{PoolKind, Tensor};

/// Side of the square chip the network takes.
pub const CHIP_SIZE: usize = 150;
/// Length of the embedding.
pub const EMBEDDING_DIM: usize = 128;
/// Chips run through the network together at most (≈ 0.7 MB of activations
/// each at the widest layer).
pub const MAX_BATCH: usize = 32;

fn block(ops: &mut Vec<Op>, n: usize, stride: usize) {
    ops.extend([
        Op::Con {
            filters: n,
            k: 3,
            stride,
        },
        Op::Affine,
        Op::Relu,
        Op::Con {
            filters: n,
            k: 3,
            stride: 1,
        },
        Op::Affine,
    ]);
}

/// `relu<add_prev1<block<n, 1, tag1<…>>>>`
fn ares(ops: &mut Vec<Op>, n: usize) {
    ops.push(Op::Tag(1));
    block(ops, n, 1);
    ops.extend([Op::AddPrev(1), Op::Relu]);
}

/// `relu<add_prev2<avg_pool<2,2,2,2, skip1<tag2<block<n, 2, tag1<…>>>>>>>`
fn ares_down(ops: &mut Vec<Op>, n: usize) {
    ops.push(Op::Tag(1));
    block(ops, n, 2);
    ops.extend([
        Op::Tag(2),
        Op::Skip(1),
        Op::AvgPool { k: 2, stride: 2 },
        Op::AddPrev(2),
        Op::Relu,
    ]);
}

/// The network definition, input side first.
pub(crate) fn definition() -> Vec<Op> {
    let mut ops = vec![
        Op::Con {
            filters: 32,
            k: 7,
            stride: 2,
        },
        Op::Affine,
        Op::Relu,
        Op::MaxPool { k: 3, stride: 2 },
    ];
    for _ in 0..3 {
        ares(&mut ops, 32);
    }
    for (n, repeats) in [(64, 3), (128, 2), (256, 2)] {
        ares_down(&mut ops, n);
        for _ in 0..repeats {
            ares(&mut ops, n);
        }
    }
    ares_down(&mut ops, 256);
    ops.push(Op::AvgPool { k: 0, stride: 1 });
    ops.push(Op::FcNoBias {
        outputs: EMBEDDING_DIM,
    });
    ops
}

/// The loaded embedding network.
#[derive(Debug, Clone)]
pub struct ResNet {
    input: InputLayer,
    body: Vec<Step>,
    fc: crate::nn::FullyConnected,
}

impl ResNet {
    /// Parses the model after checking its SHA-256.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        verify(ModelKind::Embedder, bytes)?;
        Self::parse(bytes)
    }

    /// Parses the model without the checksum (the fuzz entry point's way in).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let mut r = Reader::new(bytes, ModelKind::Embedder.file_name());
        r.version(1, "add_loss_layer")?;
        let loss = r.tag(&["loss_metric_", "loss_metric_2"])?;
        if loss == "loss_metric_2" {
            r.f32()?; // margin
            r.f32()?; // distance threshold
        }
        let (input, mut body) = read_layers(&mut r, &definition())?;
        if input.kind != "input_rgb_image_sized" || input.extra != [CHIP_SIZE as u64; 2] {
            return Err(r.error(format!(
                "expected a 150x150 sized input layer, found {input:?}"
            )));
        }
        let fc = match body.pop() {
            Some(Layer::Fc(fc)) if fc.inputs() == 256 => fc,
            _ => return Err(r.error("the last layer is not a 256→128 fully connected layer")),
        };
        if !r.is_at_end() {
            return Err(r.error("unexpected bytes after the network"));
        }
        let body =
            compile(body).ok_or_else(|| r.error("a fully connected layer inside the body"))?;
        Ok(ResNet { input, body, fc })
    }

    /// Converts a 150×150 chip to the network's input: `(pixel − mean) / 256`.
    pub fn input_tensor(&self, chip: &image::RgbImage) -> Option<Array3<f32>> {
        let t = self.batch_tensor(&[chip])?;
        t.into_array3()
    }

    /// The chips as one batch, `(3, n, 150, 150)`; `None` if one has another size.
    fn batch_tensor(&self, chips: &[&image::RgbImage]) -> Option<Tensor> {
        let n = chips.len();
        let plane = CHIP_SIZE * CHIP_SIZE;
        let mut data = vec![0f32; 3 * n * plane];
        for (s, chip) in chips.iter().enumerate() {
            if chip.width() as usize != CHIP_SIZE || chip.height() as usize != CHIP_SIZE {
                return None;
            }
            for (i, px) in chip.as_raw().chunks_exact(3).enumerate() {
                for c in 0..3 {
                    data[(c * n + s) * plane + i] = (px[c] as f32 - self.input.mean[c]) / 256.0;
                }
            }
        }
        Tensor::from_vec(3, n, CHIP_SIZE, CHIP_SIZE, data)
    }

    /// Multiply-adds of one embedding (convolutions only; the rest is < 1%).
    pub fn multiply_adds(&self) -> u64 {
        multiply_adds(&self.body, CHIP_SIZE, CHIP_SIZE).unwrap_or(0)
    }

    /// The 128-d embedding of a 150×150 chip; `None` if the chip has another size.
    pub fn embed(&self, chip: &image::RgbImage) -> Option<Array1<f32>> {
        self.embed_batch(&[chip])?.pop()
    }

    /// Embeddings of many 150×150 chips, in order, computed [`MAX_BATCH`] at a
    /// time as one batch; `None` if a chip has another size. Each embedding
    /// equals [`ResNet::embed`] of its chip up to float rounding.
    pub fn embed_batch(&self, chips: &[&image::RgbImage]) -> Option<Vec<Array1<f32>>> {
        let mut out = Vec::with_capacity(chips.len());
        for group in chips.chunks(MAX_BATCH) {
            let x = self.batch_tensor(group)?;
            // One entry into the rayon pool for the whole network instead of
            // one per layer: the caller then blocks once, and every layer's
            // tasks start from a worker without a cross-thread hand-off.
            let features = rayon::scope(|_| self.forward(x, &mut |_, _| {}))?;
            out.extend(self.fc.forward_batch(&features)?);
        }
        Some(out)
    }

    /// Runs `chips` (at most [`MAX_BATCH`]) through the network and returns
    /// the time `clock` (seconds, e.g. process CPU time) reports for each
    /// kind of operation, summed over the layers of that kind, in network
    /// order. For profiling (`HOMEWARD_BENCH_LAYERS=1` in `benches/faces.rs`).
    #[doc(hidden)]
    pub fn profile_ops(
        &self,
        chips: &[&image::RgbImage],
        clock: fn() -> f64,
    ) -> Option<Vec<(String, f64)>> {
        let mut totals: Vec<(String, f64)> = Vec::new();
        let mut add = |label: String, dt: f64| match totals.iter_mut().find(|(l, _)| *l == label) {
            Some((_, t)) => *t += dt,
            None => totals.push((label, dt)),
        };
        let t0 = clock();
        let x = self.batch_tensor(chips)?;
        add("input tensor".into(), clock() - t0);
        let mut steps = Vec::new();
        let features = rayon::scope(|_| {
            let mut last = clock();
            self.forward(x, &mut |step, dims| {
                let now = clock();
                steps.push((step_label(step, dims), now - last));
                last = now;
            })
        })?;
        for (label, dt) in steps {
            add(label, dt);
        }
        let t0 = clock();
        std::hint::black_box(self.fc.forward_batch(&features)?);
        add("fc 256->128".into(), clock() - t0);
        Some(totals)
    }

    /// The body of the network on a batch.
    fn forward(&self, x: Tensor, done: &mut dyn FnMut(&Step, Dims)) -> Option<Tensor> {
        run_observed(&self.body, x, done)
    }
}

/// A short description of a step and its input, for profiles.
fn step_label(step: &Step, (_, n, h, w): Dims) -> String {
    match step {
        Step::Conv { conv, .. } => {
            let p = conv.params();
            format!(
                "conv {}x{}/{} {}->{} at {h}x{w} ({:?})",
                p.kernel_h,
                p.kernel_w,
                p.stride_y,
                p.in_channels,
                p.out_channels,
                conv.auto_algorithm(n, h, w)
            )
        }
        Step::Affine(_) => "affine".into(),
        Step::Relu => "relu".into(),
        Step::Pool(p) => match p.kind {
            PoolKind::Max => format!("max_pool {}/{}", p.window_h, p.stride_y),
            PoolKind::Average if p.window_h == 0 => "avg_pool everything".into(),
            PoolKind::Average => format!("avg_pool {}/{}", p.window_h, p.stride_y),
        },
        Step::AddPrev { .. } => "add_prev + relu".into(),
        Step::Tag(_) => "tag".into(),
        Step::Skip(_) => "skip".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A batch large enough for the batched-only kernels (Winograd on the
    // 256-channel 4×4 layers) gives each chip the embedding it gets alone
    // (im2col there), up to float rounding (measured 6.8e-7 at most).
    #[test]
    fn batch_kernels_match_one_chip_embeddings() {
        let net = ResNet::from_bytes(ModelKind::Embedder.bundled_bytes()).unwrap();
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/golden/chips");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        let chips: Vec<image::RgbImage> = paths
            .iter()
            .take(8)
            .map(|p| image::open(p).unwrap().to_rgb8())
            .collect();
        assert_eq!(chips.len(), 8);
        let refs: Vec<&image::RgbImage> = chips.iter().collect();
        let batched = net.embed_batch(&refs).unwrap();
        for (chip, b) in chips.iter().zip(&batched) {
            let alone = net.embed(chip).unwrap();
            let d = (&alone - b).mapv(|v| v * v).sum().sqrt();
            assert!(d < 2e-6, "batched vs alone: {d}");
            assert!((alone.mapv(|v| v * v).sum().sqrt() - 1.0).abs() < 0.5);
        }
    }
}
