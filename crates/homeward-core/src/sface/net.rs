//! SFace's MobileFaceNet, built from the ONNX graph and run on [`crate::nn`]
//! kernels: 27 convolutions (full, depthwise and pointwise), each followed by
//! batch norm and PReLU, then batch norm, a linear layer to 128 values and a
//! last batch norm. No residual connections: the graph is one chain, and the
//! builder refuses any file that is not exactly such a chain.

use image::RgbImage;

use super::depthwise::Depthwise;
use super::onnx::{Graph, Initializer, Node};
use super::{SFaceEmbedding, SFACE_DIM};
use crate::dlib::ModelError;
use crate::nn::{Affine, AffinePrelu, Conv2d, ConvAlgorithm, ConvParams, Tensor};

/// Input side.
const SIDE: usize = 112;

enum Block {
    /// Full or pointwise convolution (GEMM), batch norm, PReLU.
    Conv {
        conv: Conv2d,
        bn: Affine,
        slopes: Vec<f32>,
    },
    /// Depthwise convolution with its batch norm and PReLU fused.
    Depthwise {
        conv: Depthwise,
        bn: Affine,
        slopes: Vec<f32>,
    },
}

/// The network, ready to run.
pub(crate) struct Net {
    /// Input normalisation: `(x − mean) · scale` (the graph's Sub and Mul).
    mean: f32,
    scale: f32,
    blocks: Vec<Block>,
    /// Batch norm over the last feature map.
    bn_features: Affine,
    /// Linear layer, `(inputs × 128)` for [`crate::nn::FullyConnected`] order.
    fc: crate::nn::FullyConnected,
    fc_bias: Vec<f32>,
    /// Batch norm of the 128 outputs.
    bn_out: Affine,
    multiply_adds: u64,
}

struct Builder<'a> {
    graph: &'a Graph,
    model: &'a str,
    next: usize,
    /// Name of the tensor the chain has reached.
    current: String,
}

impl<'a> Builder<'a> {
    fn error(&self, message: String) -> ModelError {
        ModelError::Shape {
            model: self.model.to_string(),
            layer: format!("node {}", self.next),
            expected: "SFace's MobileFaceNet chain (face_recognition_sface_2021dec.onnx)"
                .to_string(),
            got: message,
        }
    }

    fn peek(&self) -> Option<&'a Node> {
        self.graph.nodes.get(self.next)
    }

    /// The next node, which must be `op` and read the chain's current tensor.
    fn take(&mut self, op: &str) -> Result<&'a Node, ModelError> {
        let node = self
            .peek()
            .ok_or_else(|| self.error(format!("the graph ends where {op} was expected")))?;
        if node.op_type != op {
            return Err(self.error(format!("{} where {op} was expected", node.op_type)));
        }
        if node.inputs.first() != Some(&self.current) || node.outputs.len() != 1 {
            return Err(self.error(format!(
                "{op} does not continue the chain from {:?}",
                self.current
            )));
        }
        self.current = node.outputs[0].clone();
        self.next += 1;
        Ok(node)
    }

    fn tensor(&self, node: &Node, i: usize) -> Result<&'a Initializer, ModelError> {
        let name = node
            .inputs
            .get(i)
            .ok_or_else(|| self.error(format!("{} has no input {i}", node.op_type)))?;
        self.graph
            .initializers
            .get(name)
            .ok_or_else(|| self.error(format!("no weights named {name:?}")))
    }

    fn scalar(&self, node: &Node) -> Result<f32, ModelError> {
        match self.tensor(node, 1)?.data[..] {
            [v] => Ok(v),
            _ => Err(self.error(format!("{} operand is not one value", node.op_type))),
        }
    }

    /// `BatchNormalization` with `channels` channels, folded to an affine.
    fn batch_norm(&mut self, channels: usize) -> Result<Affine, ModelError> {
        let node = self.take("BatchNormalization")?;
        let eps = node.floats.get("epsilon").copied().unwrap_or(1e-5);
        let parts: Vec<&[f32]> = (1..5)
            .map(|i| self.tensor(node, i).map(|t| &t.data[..]))
            .collect::<Result<_, _>>()?;
        if parts.iter().any(|p| p.len() != channels) {
            return Err(self.error(format!("batch norm is not over {channels} channels")));
        }
        Affine::from_batch_norm(parts[0], parts[1], parts[2], parts[3], eps)
            .ok_or_else(|| self.error("batch norm parameters differ in length".to_string()))
    }

    fn prelu(&mut self, channels: usize) -> Result<Vec<f32>, ModelError> {
        let node = self.take("PRelu")?;
        let slopes = &self.tensor(node, 1)?.data;
        if slopes.len() != channels {
            return Err(self.error(format!("PReLU is not over {channels} channels")));
        }
        Ok(slopes.clone())
    }

    /// Conv + BatchNormalization + PRelu; `side` is the input side, updated.
    fn block(
        &mut self,
        channels: &mut usize,
        side: &mut usize,
    ) -> Result<(Block, u64), ModelError> {
        let node = self.take("Conv")?;
        let w = self.tensor(node, 1)?;
        let attr = |name: &str| node.ints.get(name).cloned().unwrap_or_default();
        let [f, cg, kh, kw] = w.dims[..] else {
            return Err(self.error(format!("conv weights have dims {:?}", w.dims)));
        };
        let group = usize::try_from(node.int("group", 1)).unwrap_or(0);
        let stride = attr("strides");
        let pads = attr("pads");
        let square = |v: &[i64], n: usize| v.len() == n && v.iter().all(|&x| x == v[0]);
        if node.inputs.len() != 2
            || kh != kw
            || !square(&stride, 2)
            || !square(&pads, 4)
            || attr("dilations").iter().any(|&d| d != 1)
        {
            return Err(self.error(
                "a convolution that is not square, symmetric, undilated and bias-free".to_string(),
            ));
        }
        let (stride, pad) = (stride[0] as usize, pads[0] as usize);
        let c = *channels;
        let out_side = (*side + 2 * pad)
            .checked_sub(kh)
            .map(|v| v / stride.max(1) + 1)
            .filter(|_| stride > 0)
            .ok_or_else(|| self.error("a convolution larger than its input".to_string()))?;
        let (block, macs) = if group == 1 && cg == c {
            let params = ConvParams {
                in_channels: c,
                out_channels: f,
                kernel_h: kh,
                kernel_w: kw,
                stride_y: stride,
                stride_x: stride,
                pad_y: pad,
                pad_x: pad,
            };
            let conv = Conv2d::new(params, w.data.clone(), vec![0.0; f])
                .ok_or_else(|| self.error("conv weights of the wrong length".to_string()))?;
            let macs = (out_side * out_side * f * c * kh * kw) as u64;
            let bn = self.batch_norm(f)?;
            let slopes = self.prelu(f)?;
            (Block::Conv { conv, bn, slopes }, macs)
        } else if group == c && f == c && cg == 1 {
            let conv = Depthwise {
                channels: c,
                kernel: kh,
                stride,
                pad,
                filters: w.data.clone(),
            };
            let macs = (out_side * out_side * c * kh * kw) as u64;
            let bn = self.batch_norm(c)?;
            let slopes = self.prelu(c)?;
            (Block::Depthwise { conv, bn, slopes }, macs)
        } else {
            return Err(self.error(format!(
                "a convolution with {c} input channels, group {group} and weights {:?}",
                w.dims
            )));
        };
        *channels = f;
        *side = out_side;
        Ok((block, macs))
    }
}

impl Net {
    /// Builds the network from the parsed graph; `model` names it in errors.
    pub fn build(graph: &Graph, model: &str) -> Result<Net, ModelError> {
        let input = "data".to_string();
        let mut b = Builder {
            graph,
            model,
            next: 0,
            current: input,
        };
        let mean = b.take("Sub").and_then(|n| b.scalar(n))?;
        let scale = b.take("Mul").and_then(|n| b.scalar(n))?;
        let (mut channels, mut side) = (3, SIDE);
        let mut blocks = Vec::new();
        let mut multiply_adds = 0;
        while b.peek().is_some_and(|n| n.op_type == "Conv") {
            let (block, macs) = b.block(&mut channels, &mut side)?;
            blocks.push(block);
            multiply_adds += macs;
        }
        let bn_features = b.batch_norm(channels)?;
        if b.peek().is_some_and(|n| n.op_type == "Dropout") {
            b.take("Dropout")?; // identity at inference
        }
        b.take("Flatten")?;
        let gemm = b.take("Gemm")?;
        let inputs = channels * side * side;
        let w = b.tensor(gemm, 1)?;
        let bias = b.tensor(gemm, 2)?;
        if gemm.int("transB", 0) != 1
            || gemm.int("transA", 0) != 0
            || gemm.floats.get("alpha").is_some_and(|&a| a != 1.0)
            || gemm.floats.get("beta").is_some_and(|&a| a != 1.0)
            || w.dims != [SFACE_DIM, inputs]
            || bias.data.len() != SFACE_DIM
        {
            return Err(b.error(format!(
                "a linear layer other than {inputs} → {SFACE_DIM} (weights {:?})",
                w.dims
            )));
        }
        // ONNX stores (outputs × inputs); FullyConnected wants (inputs × outputs).
        let mut t = vec![0f32; inputs * SFACE_DIM];
        for (o, row) in w.data.chunks_exact(inputs).enumerate() {
            for (i, &v) in row.iter().enumerate() {
                t[i * SFACE_DIM + o] = v;
            }
        }
        let fc = crate::nn::FullyConnected::new(inputs, SFACE_DIM, t)
            .ok_or_else(|| b.error("linear weights of the wrong length".to_string()))?;
        multiply_adds += (inputs * SFACE_DIM) as u64;
        let bn_out = b.batch_norm(SFACE_DIM)?;
        if b.next != graph.nodes.len() {
            return Err(b.error(format!(
                "{} more nodes after the last batch norm",
                graph.nodes.len() - b.next
            )));
        }
        Ok(Net {
            mean,
            scale,
            blocks,
            bn_features,
            fc,
            fc_bias: bias.data.clone(),
            bn_out,
            multiply_adds,
        })
    }

    pub fn multiply_adds(&self) -> u64 {
        self.multiply_adds
    }

    /// Embeds 112×112 RGB chips in one batch; `None` if a chip has another size.
    pub fn embed_batch(&self, chips: &[&RgbImage]) -> Option<Vec<SFaceEmbedding>> {
        if chips.is_empty() {
            return Some(Vec::new());
        }
        let x = self.input(chips)?;
        // One entry into the rayon pool for the whole network instead of one
        // per layer: every layer's tasks start from a worker.
        rayon::scope(|_| self.run(x, &mut |_| {}))
    }

    /// The normalised input tensor `(3, n, 112, 112)`; `None` if a chip has
    /// another size.
    fn input(&self, chips: &[&RgbImage]) -> Option<Tensor> {
        let n = chips.len();
        if chips
            .iter()
            .any(|c| c.dimensions() != (SIDE as u32, SIDE as u32))
        {
            return None;
        }
        let plane = SIDE * SIDE;
        let mut data = vec![0f32; 3 * n * plane];
        for (s, chip) in chips.iter().enumerate() {
            for (i, px) in chip.pixels().enumerate() {
                for ch in 0..3 {
                    data[(ch * n + s) * plane + i] = (f32::from(px[ch]) - self.mean) * self.scale;
                }
            }
        }
        Tensor::from_vec(3, n, SIDE, SIDE, data)
    }

    /// The network from the input tensor to the embeddings; `done` is told
    /// the label of every step as it finishes (for profiles).
    fn run(&self, mut x: Tensor, done: &mut dyn FnMut(String)) -> Option<Vec<SFaceEmbedding>> {
        for block in &self.blocks {
            let label = block.label(x.dim());
            x = match block {
                Block::Conv { conv, bn, slopes } => {
                    let post = AffinePrelu { affine: bn, slopes };
                    conv.forward_batch_prelu_with(&x, post, algorithm(conv))?
                }
                Block::Depthwise { conv, bn, slopes } => conv.forward(&x, bn, slopes)?,
            };
            done(label);
        }
        self.bn_features.forward_tensor(&mut x)?;
        done("batch norm of the features".into());
        let outputs = self.fc.forward_batch_gemm(&x)?;
        let out = outputs
            .into_iter()
            .map(|o| {
                let mut e = [0f32; SFACE_DIM];
                for (i, v) in e.iter_mut().enumerate() {
                    let (g, b) = self.bn_out.get(i);
                    *v = (o[i] + self.fc_bias[i]) * g + b;
                }
                Some(SFaceEmbedding(e))
            })
            .collect();
        done(format!(
            "linear {} -> {SFACE_DIM} + batch norm",
            self.fc.inputs()
        ));
        out
    }

    /// Runs `chips` through the network and returns the time `clock`
    /// (seconds, e.g. process CPU time) reports for each step, summed over
    /// the steps with the same label, in network order. For profiling
    /// (`HOMEWARD_BENCH_BLOCKS=1` in `benches/sface.rs`).
    pub fn profile(&self, chips: &[&RgbImage], clock: fn() -> f64) -> Option<Vec<(String, f64)>> {
        let mut totals: Vec<(String, f64, usize)> = Vec::new();
        let t0 = clock();
        let x = self.input(chips)?;
        totals.push(("input tensor".into(), clock() - t0, 1));
        let mut last = clock();
        rayon::scope(|_| {
            self.run(x, &mut |label| {
                let now = clock();
                match totals.iter_mut().find(|(l, _, _)| *l == label) {
                    Some((_, t, count)) => {
                        *t += now - last;
                        *count += 1;
                    }
                    None => totals.push((label, now - last, 1)),
                }
                last = now;
            })
        })?;
        Some(
            totals
                .into_iter()
                .map(|(label, t, count)| match count {
                    1 => (label, t),
                    _ => (format!("{label} ×{count}"), t),
                })
                .collect(),
        )
    }
}

impl Block {
    /// A short description of the step for an input of `dims`.
    fn label(&self, (_, _, h, w): (usize, usize, usize, usize)) -> String {
        match self {
            Block::Conv { conv, .. } => {
                let p = conv.params();
                format!(
                    "conv {}x{}/{} {}->{} at {h}x{w} ({:?})",
                    p.kernel_h,
                    p.kernel_w,
                    p.stride_y,
                    p.in_channels,
                    p.out_channels,
                    algorithm(conv)
                )
            }
            Block::Depthwise { conv, .. } => format!(
                "depthwise {}x{}/{} {} at {h}x{w}",
                conv.kernel, conv.kernel, conv.stride, conv.channels
            ),
        }
    }
}

/// Pointwise layers with fewer input channels than this run on the direct
/// kernel, the others as a GEMM on the activations.
const POINTWISE_GEMM_MIN_CHANNELS: usize = 64;

/// The algorithm for SFace's full and pointwise convolutions. Measured
/// per step (`HOMEWARD_BENCH_BLOCKS=1`, docs/adr-sface.md), CPU ms per face,
/// one thread: a 1×1 layer as a GEMM straight on the activations (no im2col
/// copy) beats the direct shifted-tap kernel from 64 input channels on (512
/// → 512 at 14×14, five layers: 5.3 vs 8.1; 128 → 128 at 56×56: 1.4 vs 1.7),
/// but on 32 → 64 at 112×112, where the short GEMM is bound by writing its
/// output, the direct kernel takes half the time (1.5 vs 3.1); the 3×3
/// first layer takes it too (0.55 vs 0.77 on im2col, outside
/// [`ConvAlgorithm::Auto`]'s range). Without AVX-512 `Direct` falls back to
/// im2col + GEMM.
fn algorithm(conv: &Conv2d) -> ConvAlgorithm {
    let p = conv.params();
    let pointwise = p.kernel_h == 1 && p.kernel_w == 1 && p.stride_x == 1 && p.stride_y == 1;
    if pointwise && p.pad_x == 0 && p.pad_y == 0 && p.in_channels >= POINTWISE_GEMM_MIN_CHANNELS {
        ConvAlgorithm::Im2col
    } else {
        ConvAlgorithm::Direct
    }
}
