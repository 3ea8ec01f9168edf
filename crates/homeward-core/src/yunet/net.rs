//! YuNet's network, built from the ONNX graph and run on [`crate::nn`]
//! kernels.
//!
//! The builder accepts only the operators YuNet uses, each with exactly the
//! attributes it has in `face_detection_yunet_2023mar.onnx`: `Conv` (full,
//! pointwise or depthwise, with bias, stride 1 or 2, symmetric padding),
//! `Relu` (fused into the convolution before it), `MaxPool` 2×2 stride 2,
//! `Resize` nearest ×2, `Add`, `Transpose` to channels-last, `Reshape` to
//! `[1, −1, k]` and `Sigmoid`. It then checks every shape on a nominal input
//! and that the twelve outputs are the detection heads YuNet's decoder reads.
//! Anything else is refused with a [`ModelError`].

use std::collections::HashMap;

use super::{Level, RawOutputs, STRIDES};
use crate::dlib::ModelError;
use crate::nn::{Affine, Conv2d, ConvParams, Epilogue, Tensor};
use crate::sface::depthwise::Depthwise;
use crate::sface::onnx::{Graph, Node};

/// Per-anchor values of each head, in the decoder's order.
const HEADS: [(&str, usize); 4] = [("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)];

/// One operation, reading and writing slots of the value table.
enum Op {
    /// Full or pointwise convolution (GEMM or direct kernel), ReLU fused.
    Conv {
        conv: Conv2d,
        relu: bool,
    },
    /// Depthwise convolution; `slopes` 0 for a fused ReLU, 1 for none.
    Depthwise {
        conv: Depthwise,
        bias: Affine,
        slopes: Vec<f32>,
    },
    Relu,
    /// 2×2 max pooling, stride 2.
    MaxPool,
    /// Nearest-neighbour upsampling by 2 in both directions.
    Upsample2,
    Add,
    /// `(c, 1, h, w)` to channels-last `(h·w, c)`, flattened.
    ToChannelsLast,
    /// Reshape of a channels-last map to rows of `k` (no data movement).
    Rows(usize),
    Sigmoid,
}

struct Step {
    op: Op,
    inputs: Vec<usize>,
    output: usize,
}

/// A value during a run.
enum Value {
    Map(Tensor),
    /// Channels-last rows of `k` values.
    Rows {
        data: Vec<f32>,
        k: usize,
    },
}

/// The network, ready to run.
pub(crate) struct Net {
    steps: Vec<Step>,
    slots: usize,
    /// After step `i`, the slots no later step reads (freed to bound memory).
    frees: Vec<Vec<usize>>,
    /// Slots of `cls_8 … kps_32` in [`HEADS`] × [`STRIDES`] order.
    outputs: [[usize; 3]; 4],
    /// Multiply-adds per input pixel (the network is fully convolutional).
    macs_per_pixel: f64,
}

struct Builder<'a> {
    graph: &'a Graph,
    model: &'a str,
    slots: HashMap<String, usize>,
}

impl Builder<'_> {
    fn error(&self, layer: &str, got: String) -> ModelError {
        ModelError::Shape {
            model: self.model.to_string(),
            layer: layer.to_string(),
            expected: "YuNet's detector graph (face_detection_yunet_2023mar.onnx)".to_string(),
            got,
        }
    }

    fn slot(&mut self, name: &str) -> usize {
        let n = self.slots.len();
        *self.slots.entry(name.to_string()).or_insert(n)
    }

    /// The slot of an input that an earlier node produced (or the input).
    fn read(&self, node: &Node, i: usize) -> Result<usize, ModelError> {
        let name = node
            .inputs
            .get(i)
            .ok_or_else(|| self.error(&node.op_type, format!("no input {i}")))?;
        self.slots
            .get(name)
            .copied()
            .ok_or_else(|| self.error(&node.op_type, format!("{name:?} is read before it is made")))
    }

    fn floats(&self, node: &Node, i: usize) -> Result<&[f32], ModelError> {
        let name = node.inputs.get(i).map(String::as_str).unwrap_or("");
        self.graph
            .initializers
            .get(name)
            .map(|t| &t.data[..])
            .ok_or_else(|| self.error(&node.op_type, format!("no weights named {name:?}")))
    }

    fn conv(&self, node: &Node, relu: bool) -> Result<Op, ModelError> {
        let name = node.inputs.get(1).map(String::as_str).unwrap_or("");
        let w = self
            .graph
            .initializers
            .get(name)
            .ok_or_else(|| self.error("Conv", format!("no weights named {name:?}")))?;
        let [f, cg, kh, kw] = w.dims[..] else {
            return Err(self.error("Conv", format!("weights of dims {:?}", w.dims)));
        };
        let bias = self.floats(node, 2)?.to_vec();
        let ints = |k: &str| node.ints.get(k).cloned().unwrap_or_default();
        let (strides, pads) = (ints("strides"), ints("pads"));
        let group = usize::try_from(node.int("group", 1)).unwrap_or(0);
        let ok = node.inputs.len() == 3
            && kh == kw
            && (kh == 1 || kh == 3)
            && ints("kernel_shape") == [kh as i64, kw as i64]
            && ints("dilations").iter().all(|&d| d == 1)
            && strides.len() == 2
            && strides[0] == strides[1]
            && (strides[0] == 1 || strides[0] == 2)
            && pads == [(kh / 2) as i64; 4]
            && bias.len() == f
            && group >= 1;
        if !ok {
            return Err(self.error(
                "Conv",
                format!("a convolution with weights {:?}, strides {strides:?}, pads {pads:?}, group {group}", w.dims),
            ));
        }
        let (stride, pad) = (strides[0] as usize, kh / 2);
        if cg == 1 && group == f {
            let conv = Depthwise {
                channels: f,
                kernel: kh,
                stride,
                pad,
                filters: w.data.clone(),
            };
            let bias = Affine::new(vec![1.0; f], bias)
                .ok_or_else(|| self.error("Conv", "bias of the wrong length".to_string()))?;
            let slopes = vec![if relu { 0.0 } else { 1.0 }; f];
            Ok(Op::Depthwise { conv, bias, slopes })
        } else if group == 1 {
            let params = ConvParams {
                in_channels: cg,
                out_channels: f,
                kernel_h: kh,
                kernel_w: kw,
                stride_y: stride,
                stride_x: stride,
                pad_y: pad,
                pad_x: pad,
            };
            let conv = Conv2d::new(params, w.data.clone(), bias)
                .ok_or_else(|| self.error("Conv", "weights of the wrong length".to_string()))?;
            Ok(Op::Conv { conv, relu })
        } else {
            Err(self.error("Conv", format!("group {group} with weights {:?}", w.dims)))
        }
    }
}

/// Shape of a value in the checking pass.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Shape {
    Map { c: usize, h: usize, w: usize },
    Rows { n: usize, k: usize },
}

impl Net {
    /// Builds the network from the parsed graph; `model` names it in errors.
    pub fn build(graph: &Graph, model: &str) -> Result<Net, ModelError> {
        let mut b = Builder {
            graph,
            model,
            slots: HashMap::new(),
        };
        b.slot("input");
        let nodes = &graph.nodes;
        let mut consumers: HashMap<&str, usize> = HashMap::new();
        for n in nodes {
            for i in &n.inputs {
                *consumers.entry(i.as_str()).or_default() += 1;
            }
        }
        let mut steps = Vec::new();
        let mut i = 0;
        while i < nodes.len() {
            let node = &nodes[i];
            if node.outputs.len() != 1 {
                return Err(b.error(&node.op_type, "not exactly one output".to_string()));
            }
            let out_name = node.outputs[0].as_str();
            let mut output_name = out_name;
            let op = match node.op_type.as_str() {
                "Conv" => {
                    // A ReLU that alone reads this convolution is fused into it.
                    let next = nodes.get(i + 1).filter(|n| {
                        n.op_type == "Relu"
                            && n.inputs == [out_name]
                            && consumers.get(out_name) == Some(&1)
                    });
                    if let Some(relu) = next {
                        output_name = relu.outputs.first().map(String::as_str).unwrap_or("");
                        i += 1;
                    }
                    b.conv(node, next.is_some())?
                }
                "Relu" => Op::Relu,
                "Sigmoid" => Op::Sigmoid,
                "Add" => Op::Add,
                "MaxPool" => {
                    let ints = |k: &str| node.ints.get(k).cloned().unwrap_or_default();
                    if ints("kernel_shape") != [2, 2]
                        || ints("strides") != [2, 2]
                        || ints("pads").iter().any(|&p| p != 0)
                        || node.int("ceil_mode", 0) != 0
                    {
                        return Err(b.error("MaxPool", "pooling other than 2×2 stride 2".into()));
                    }
                    Op::MaxPool
                }
                "Resize" => {
                    let s = |k: &str| node.strings.get(k).map(String::as_str);
                    let scales = b.floats(node, 2)?;
                    if s("mode") != Some("nearest")
                        || s("coordinate_transformation_mode") != Some("asymmetric")
                        || s("nearest_mode") != Some("floor")
                        || scales != [1.0, 1.0, 2.0, 2.0]
                    {
                        return Err(b.error(
                            "Resize",
                            "a resize other than nearest (floor, asymmetric) by 2".into(),
                        ));
                    }
                    Op::Upsample2
                }
                "Transpose" => {
                    if node.ints.get("perm").map(Vec::as_slice) != Some(&[0, 2, 3, 1]) {
                        return Err(
                            b.error("Transpose", "a permutation other than NCHW → NHWC".into())
                        );
                    }
                    Op::ToChannelsLast
                }
                "Reshape" => {
                    let name = node.inputs.get(1).map(String::as_str).unwrap_or("");
                    match graph.int_initializers.get(name).map(Vec::as_slice) {
                        Some(&[1, -1, k]) if (1..=16).contains(&k) => Op::Rows(k as usize),
                        other => {
                            return Err(b.error("Reshape", format!("to shape {other:?}")));
                        }
                    }
                }
                other => return Err(b.error(other, "an operator YuNet does not use".into())),
            };
            let arity = match op {
                Op::Add => 2,
                _ => 1,
            };
            let inputs = (0..arity)
                .map(|k| b.read(node, k))
                .collect::<Result<Vec<_>, _>>()?;
            if b.slots.contains_key(output_name) {
                return Err(b.error(&node.op_type, format!("{output_name:?} is made twice")));
            }
            let output = b.slot(output_name);
            steps.push(Step { op, inputs, output });
            i += 1;
        }
        let mut outputs = [[0usize; 3]; 4];
        for (h, (head, _)) in HEADS.iter().enumerate() {
            for (l, stride) in STRIDES.iter().enumerate() {
                let name = format!("{head}_{stride}");
                outputs[h][l] = *b
                    .slots
                    .get(&name)
                    .ok_or_else(|| b.error("outputs", format!("no output {name:?}")))?;
            }
        }
        // Free each slot after its last reader, except the outputs.
        let mut last_use = vec![None; b.slots.len()];
        for (k, step) in steps.iter().enumerate() {
            for &s in &step.inputs {
                last_use[s] = Some(k);
            }
        }
        let mut frees = vec![Vec::new(); steps.len()];
        for (slot, last) in last_use.iter().enumerate() {
            if let Some(k) = last {
                if !outputs.iter().flatten().any(|&o| o == slot) {
                    frees[*k].push(slot);
                }
            }
        }
        let mut net = Net {
            steps,
            slots: b.slots.len(),
            frees,
            outputs,
            macs_per_pixel: 0.0,
        };
        net.check_shapes(model)?;
        Ok(net)
    }

    /// Runs the shapes through the graph for a nominal 64×64 input: every
    /// operation must fit its inputs and every head give `k` values per
    /// anchor of its stride.
    fn check_shapes(&mut self, model: &str) -> Result<(), ModelError> {
        let side = 64;
        let err = |k: usize, got: String| ModelError::Shape {
            model: model.to_string(),
            layer: format!("operation {k}"),
            expected: "YuNet's detector graph (face_detection_yunet_2023mar.onnx)".to_string(),
            got,
        };
        let mut shapes: Vec<Option<Shape>> = vec![None; self.slots];
        shapes[0] = Some(Shape::Map {
            c: 3,
            h: side,
            w: side,
        });
        let mut macs = 0u64;
        for (k, step) in self.steps.iter().enumerate() {
            let ins: Vec<Shape> = step
                .inputs
                .iter()
                .map(|&s| shapes[s].ok_or_else(|| err(k, "reads an unset value".into())))
                .collect::<Result<_, _>>()?;
            let out = match (&step.op, ins.as_slice()) {
                (Op::Conv { conv, .. }, [Shape::Map { c, h, w }]) => {
                    let p = conv.params();
                    let (oh, ow) = conv
                        .out_dims(*h, *w)
                        .filter(|_| p.in_channels == *c)
                        .ok_or_else(|| err(k, format!("convolution on {c} channels")))?;
                    macs += (oh * ow * p.out_channels * p.patch_len()) as u64;
                    Shape::Map {
                        c: p.out_channels,
                        h: oh,
                        w: ow,
                    }
                }
                (Op::Depthwise { conv, .. }, [Shape::Map { c, h, w }]) if *c == conv.channels => {
                    let (oh, ow) = conv
                        .out_side(*h)
                        .zip(conv.out_side(*w))
                        .ok_or_else(|| err(k, "depthwise kernel larger than its input".into()))?;
                    macs += (oh * ow * c * conv.kernel * conv.kernel) as u64;
                    Shape::Map {
                        c: *c,
                        h: oh,
                        w: ow,
                    }
                }
                (Op::Relu | Op::Sigmoid, [s]) => *s,
                (Op::MaxPool, [Shape::Map { c, h, w }]) if h % 2 == 0 && w % 2 == 0 => Shape::Map {
                    c: *c,
                    h: h / 2,
                    w: w / 2,
                },
                (Op::Upsample2, [Shape::Map { c, h, w }]) => Shape::Map {
                    c: *c,
                    h: h * 2,
                    w: w * 2,
                },
                (Op::Add, [a, b]) if a == b && matches!(a, Shape::Map { .. }) => *a,
                (Op::ToChannelsLast, [Shape::Map { c, h, w }]) => Shape::Rows { n: h * w, k: *c },
                (Op::Rows(k2), [Shape::Rows { n, k }]) if k2 == k => Shape::Rows { n: *n, k: *k },
                (_, ins) => return Err(err(k, format!("an operation on inputs {ins:?}"))),
            };
            shapes[step.output] = Some(out);
        }
        for (h, (head, k)) in HEADS.iter().enumerate() {
            for (l, stride) in STRIDES.iter().enumerate() {
                let n = (side / stride) * (side / stride);
                let want = Shape::Rows { n, k: *k };
                if shapes[self.outputs[h][l]] != Some(want) {
                    return Err(err(
                        self.steps.len(),
                        format!(
                            "output {head}_{stride} is {:?}, not {want:?}",
                            shapes[self.outputs[h][l]]
                        ),
                    ));
                }
            }
        }
        self.macs_per_pixel = macs as f64 / (side * side) as f64;
        Ok(())
    }

    /// Multiply-adds for a `width × height` input.
    pub fn multiply_adds(&self, width: usize, height: usize) -> u64 {
        (self.macs_per_pixel * (width * height) as f64) as u64
    }

    /// Runs the network on a `(3, 1, h, w)` BGR tensor whose sides are
    /// multiples of 32 (the caller checks); `None` if a kernel refuses.
    pub fn forward(&self, input: Tensor) -> Option<RawOutputs> {
        let (_, _, height, width) = input.dim();
        let mut values: Vec<Option<Value>> = (0..self.slots).map(|_| None).collect();
        values[0] = Some(Value::Map(input));
        for (step, frees) in self.steps.iter().zip(&self.frees) {
            let map = |s: usize| match values[s].as_ref() {
                Some(Value::Map(t)) => Some(t),
                _ => None,
            };
            let out = match &step.op {
                Op::Conv { conv, relu } => {
                    let post = Epilogue {
                        affine: None,
                        relu: *relu,
                    };
                    Value::Map(conv.forward_batch(map(step.inputs[0])?, post)?)
                }
                Op::Depthwise { conv, bias, slopes } => {
                    Value::Map(conv.forward(map(step.inputs[0])?, bias, slopes)?)
                }
                Op::Relu => {
                    let mut t = map(step.inputs[0])?.clone();
                    crate::nn::relu_tensor(&mut t);
                    Value::Map(t)
                }
                Op::MaxPool => Value::Map(max_pool2(map(step.inputs[0])?)?),
                Op::Upsample2 => Value::Map(upsample2(map(step.inputs[0])?)?),
                Op::Add => {
                    let (a, b) = (map(step.inputs[0])?, map(step.inputs[1])?);
                    if a.dim() != b.dim() {
                        return None;
                    }
                    let mut t = a.clone();
                    for (x, y) in t.as_mut_slice().iter_mut().zip(b.as_slice()) {
                        *x += y;
                    }
                    Value::Map(t)
                }
                Op::ToChannelsLast => {
                    let t = map(step.inputs[0])?;
                    let (c, _, h, w) = t.dim();
                    let src = t.as_slice();
                    let plane = h * w;
                    let mut data = vec![0f32; c * plane];
                    for ch in 0..c {
                        for (p, &v) in src[ch * plane..(ch + 1) * plane].iter().enumerate() {
                            data[p * c + ch] = v;
                        }
                    }
                    Value::Rows { data, k: c }
                }
                Op::Rows(k) => match values[step.inputs[0]].as_ref() {
                    Some(Value::Rows { data, k: k0 }) if k0 == k => Value::Rows {
                        data: data.clone(),
                        k: *k,
                    },
                    _ => return None,
                },
                Op::Sigmoid => match values[step.inputs[0]].as_ref() {
                    Some(Value::Rows { data, k }) => Value::Rows {
                        data: data.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect(),
                        k: *k,
                    },
                    _ => return None,
                },
            };
            values[step.output] = Some(out);
            for &s in frees {
                values[s] = None;
            }
        }
        let mut take = |h: usize, l: usize| match values[self.outputs[h][l]].take() {
            Some(Value::Rows { data, .. }) => Some(data),
            _ => None,
        };
        let mut levels = Vec::with_capacity(3);
        for (l, &stride) in STRIDES.iter().enumerate() {
            levels.push(Level {
                stride,
                cols: width / stride,
                rows: height / stride,
                cls: take(0, l)?,
                obj: take(1, l)?,
                bbox: take(2, l)?,
                kps: take(3, l)?,
            });
        }
        Some(RawOutputs {
            width,
            height,
            levels,
        })
    }
}

/// 2×2 max pooling with stride 2 over every plane; `None` on odd sides.
fn max_pool2(x: &Tensor) -> Option<Tensor> {
    let (c, n, h, w) = x.dim();
    if h % 2 != 0 || w % 2 != 0 {
        return None;
    }
    let (oh, ow) = (h / 2, w / 2);
    let mut out = Tensor::zeros(c, n, oh, ow);
    let src = x.as_slice();
    for (p, dst) in out.as_mut_slice().chunks_mut(oh * ow).enumerate() {
        let plane = &src[p * h * w..(p + 1) * h * w];
        for oy in 0..oh {
            let (r0, r1) = (&plane[2 * oy * w..][..w], &plane[(2 * oy + 1) * w..][..w]);
            for ox in 0..ow {
                let m = r0[2 * ox]
                    .max(r0[2 * ox + 1])
                    .max(r1[2 * ox])
                    .max(r1[2 * ox + 1]);
                dst[oy * ow + ox] = m;
            }
        }
    }
    Some(out)
}

/// Nearest-neighbour upsampling by 2: `out[y][x] = in[y/2][x/2]`.
fn upsample2(x: &Tensor) -> Option<Tensor> {
    let (c, n, h, w) = x.dim();
    let (oh, ow) = (h.checked_mul(2)?, w.checked_mul(2)?);
    let mut out = Tensor::zeros(c, n, oh, ow);
    let src = x.as_slice();
    for (p, dst) in out.as_mut_slice().chunks_mut(oh * ow).enumerate() {
        let plane = &src[p * h * w..(p + 1) * h * w];
        for (oy, row) in dst.chunks_mut(ow).enumerate() {
            let src_row = &plane[(oy / 2) * w..][..w];
            for (ox, v) in row.iter_mut().enumerate() {
                *v = src_row[ox / 2];
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_and_upsampling_follow_their_definitions() {
        let x = Tensor::from_vec(1, 1, 2, 4, vec![1., 5., 2., 0., 3., 4., -1., 7.]).unwrap();
        assert_eq!(max_pool2(&x).unwrap().as_slice(), &[5., 7.]);
        assert!(max_pool2(&Tensor::zeros(1, 1, 3, 4)).is_none());
        let y = Tensor::from_vec(1, 1, 1, 2, vec![1., 2.]).unwrap();
        let up = upsample2(&y).unwrap();
        assert_eq!(up.dim(), (1, 1, 2, 4));
        assert_eq!(up.as_slice(), &[1., 1., 2., 2., 1., 1., 2., 2.]);
    }
}
