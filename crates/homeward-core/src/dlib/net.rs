//! Reads a dlib DNN (`dlib/dnn/core.h`) against a network definition.
//!
//! dlib writes a network outermost layer first, but each `add_layer` writes its
//! version, then its whole subnetwork, then its own details. So the file holds
//! all the version numbers going in, the input layer, then each layer's details
//! coming back out:
//!
//! ```text
//! loss: version 1, loss details
//! v(L_n) v(L_n-1) … v(L_1)      one integer per layer, outermost first
//! input layer details            e.g. "input_rgb_image_sized", means, 150, 150
//! details(L_1) trailer(L_1)      innermost first
//! …
//! details(L_n) trailer(L_n)
//! ```
//!
//! Tag and skip layers write only their version. The file cannot tell a tag
//! from a skip, so the caller's definition ([`Op`]) says which is which, and
//! every layer read is checked against it: a mismatch names the layer.

use super::format::{Reader, Tensor};
use super::ModelError;
use std::rc::Rc;

use crate::nn::{
    add_tensors, relu_tensor, Affine, Conv2d, ConvParams, Epilogue, FullyConnected, Pool2d,
    PoolKind, Tensor as Batch,
};

/// One layer of a network definition, without weights, input side first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `con<filters, k, k, stride, stride>` with dlib's default padding.
    Con {
        filters: usize,
        k: usize,
        stride: usize,
    },
    Affine,
    Relu,
    MaxPool {
        k: usize,
        stride: usize,
    },
    /// `k == 0` pools the whole input.
    AvgPool {
        k: usize,
        stride: usize,
    },
    /// `add_prev<tagN>`: adds the output saved by `Tag(N)`.
    AddPrev(u8),
    Tag(u8),
    Skip(u8),
    FcNoBias {
        outputs: usize,
    },
}

/// A layer ready to run.
#[derive(Debug, Clone)]
pub(crate) enum Layer {
    Con(Conv2d),
    Affine(Affine),
    Relu,
    Pool(Pool2d),
    AddPrev(u8),
    Tag(u8),
    Skip(u8),
    Fc(FullyConnected),
}

/// The input layer's parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InputLayer {
    pub kind: String,
    /// Mean red, green, blue subtracted before dividing by 256.
    pub mean: [f32; 3],
    /// `input_rgb_image_sized`: rows, cols. `input_rgb_image_pyramid`: padding, outer padding.
    pub extra: [u64; 2],
}

/// Reads the layers after the loss layer. `ops` is the definition, input side first.
pub(crate) fn read_layers(
    r: &mut Reader,
    ops: &[Op],
) -> Result<(InputLayer, Vec<Layer>), ModelError> {
    if ops.is_empty() {
        return Err(r.error("empty network definition"));
    }
    // Going in: one version per layer, outermost first.
    let mut versions = vec![0i64; ops.len()];
    for i in (0..ops.len()).rev() {
        let v = r.int()?;
        let ok = match ops[i] {
            Op::Tag(_) | Op::Skip(_) => v == 1,
            _ if i == 0 => v == 2 || v == 3,
            _ => v == 1 || v == 2,
        };
        if !ok {
            return Err(r.error(format!(
                "layer {i} ({:?}): unexpected version {v}; the file does not match this network",
                ops[i]
            )));
        }
        versions[i] = v;
    }
    let input = read_input(r)?;
    // Coming out: details and trailer, innermost first.
    let mut layers = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let layer = match *op {
            Op::Tag(n) => Layer::Tag(n),
            Op::Skip(n) => Layer::Skip(n),
            _ => {
                let layer = read_details(r, i, *op)?;
                read_trailer(r, i == 0, versions[i])?;
                layer
            }
        };
        layers.push(layer);
    }
    Ok((input, layers))
}

fn read_input(r: &mut Reader) -> Result<InputLayer, ModelError> {
    let kind = r.tag(&[
        "input_rgb_image_sized",
        "input_rgb_image_pyramid",
        "input_rgb_image_pyramid2",
    ])?;
    let mean = [r.f32()?, r.f32()?, r.f32()?];
    let extra = match kind.as_str() {
        "input_rgb_image_sized" | "input_rgb_image_pyramid2" => [r.uint()?, r.uint()?],
        _ => [10, 11],
    };
    Ok(InputLayer { kind, mean, extra })
}

/// The bookkeeping an `add_layer` writes after its details; all of it is
/// training state and is discarded.
fn read_trailer(r: &mut Reader, over_input: bool, version: i64) -> Result<(), ModelError> {
    for _ in 0..3 {
        r.bool()?;
    }
    r.tensor()?; // x_grad
    r.tensor()?; // cached_output
    if over_input {
        r.tensor()?; // grad_final
        if version >= 3 {
            r.uint()?; // sample expansion factor
        }
    } else if version == 2 {
        r.tensor()?; // params_grad
    }
    Ok(())
}

fn shape_error(r: &Reader, i: usize, op: Op, expected: String, got: String) -> ModelError {
    ModelError::Shape {
        model: match r.error("") {
            ModelError::Format { model, .. } => model,
            _ => String::new(),
        },
        layer: format!("{i} {op:?}"),
        expected,
        got,
    }
}

/// Splits an `alias_tensor` region of `params` starting at `offset`.
fn slice(
    r: &Reader,
    params: &Tensor,
    offset: usize,
    dims: [usize; 4],
) -> Result<Vec<f32>, ModelError> {
    // The dimensions come from the file: their product or the end may
    // overflow, which is as out of range as a region past the tensor.
    let end = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|len| offset.checked_add(len));
    end.and_then(|end| params.data.get(offset..end))
        .map(<[f32]>::to_vec)
        .ok_or_else(|| {
            r.error(format!(
                "weights {dims:?} at {offset} exceed the parameter tensor ({})",
                params.len()
            ))
        })
}

fn read_details(r: &mut Reader, i: usize, op: Op) -> Result<Layer, ModelError> {
    match op {
        Op::Con { filters, k, stride } => read_con(r, i, op, filters, k, stride),
        Op::Affine => read_affine(r, i, op),
        Op::Relu => {
            r.tag(&["relu_"])?;
            Ok(Layer::Relu)
        }
        Op::MaxPool { k, stride } => read_pool(r, i, op, PoolKind::Max, k, stride),
        Op::AvgPool { k, stride } => read_pool(r, i, op, PoolKind::Average, k, stride),
        Op::AddPrev(n) => {
            r.tag(&["add_prev_"])?;
            Ok(Layer::AddPrev(n))
        }
        Op::FcNoBias { outputs } => read_fc(r, i, op, outputs),
        Op::Tag(_) | Op::Skip(_) => Err(r.error("tag and skip layers have no details")),
    }
}

fn default_padding(k: usize, stride: usize) -> usize {
    if stride != 1 {
        0
    } else {
        k / 2
    }
}

fn read_con(
    r: &mut Reader,
    i: usize,
    op: Op,
    filters: usize,
    k: usize,
    stride: usize,
) -> Result<Layer, ModelError> {
    let version = r.tag(&["con_4", "con_5"])?;
    let params = r.tensor()?;
    let num_filters = r.int()?;
    let (nr, nc) = (r.int()?, r.int()?);
    let (sy, sx) = (r.int()?, r.int()?);
    let (py, px) = (r.int()?, r.int()?);
    let fdims = r.alias_tensor()?;
    let bdims = r.alias_tensor()?;
    for _ in 0..4 {
        r.f64()?; // learning-rate and weight-decay multipliers
    }
    let use_bias = if version == "con_5" { r.bool()? } else { true };
    let pad = default_padding(k, stride) as i64;
    let want = (filters as i64, k as i64, stride as i64, pad);
    if (num_filters, nr, sy, py) != want || (num_filters, nc, sx, px) != want || fdims[0] != filters
    {
        return Err(shape_error(
            r,
            i,
            op,
            format!("{filters} filters {k}x{k} stride {stride} padding {pad}"),
            format!("{num_filters} filters {nr}x{nc} stride {sy}x{sx} padding {py}x{px}"),
        ));
    }
    let weights = slice(r, &params, 0, fdims)?;
    let bias = if use_bias {
        slice(r, &params, weights.len(), bdims)?
    } else {
        vec![0.0; filters]
    };
    let p = ConvParams {
        in_channels: fdims[1],
        out_channels: filters,
        kernel_h: k,
        kernel_w: k,
        stride_y: stride,
        stride_x: stride,
        pad_y: pad as usize,
        pad_x: pad as usize,
    };
    if fdims[2] != k || fdims[3] != k {
        return Err(shape_error(
            r,
            i,
            op,
            format!("filters {filters}x?x{k}x{k}"),
            format!("{fdims:?}"),
        ));
    }
    Conv2d::new(p, weights, bias)
        .map(Layer::Con)
        .ok_or_else(|| shape_error(r, i, op, format!("{filters} biases"), format!("{bdims:?}")))
}

fn read_affine(r: &mut Reader, i: usize, op: Op) -> Result<Layer, ModelError> {
    let version = r.tag(&["affine_", "affine_2", "bn_con2", "bn_fc2"])?;
    let params = r.tensor()?;
    let gdims = r.alias_tensor()?;
    let bdims = r.alias_tensor()?;
    let gamma = slice(r, &params, 0, gdims)?;
    let beta = slice(r, &params, gamma.len(), bdims)?;
    let layer = if version.starts_with("bn_") {
        let _means = r.tensor()?;
        let _invstds = r.tensor()?;
        let running_means = r.tensor()?;
        let running_vars = r.tensor()?;
        r.uint()?; // num_updates
        r.uint()?; // running_stats_window_size
        for _ in 0..4 {
            r.f64()?;
        }
        let eps = r.f64()? as f32;
        Affine::from_batch_norm(&gamma, &beta, &running_means.data, &running_vars.data, eps)
    } else {
        let _mode = r.int()?;
        if version == "affine_2" && r.bool()? {
            return Err(r.error(format!(
                "layer {i}: disabled affine layers are not supported"
            )));
        }
        Affine::new(gamma, beta)
    };
    layer.map(Layer::Affine).ok_or_else(|| {
        shape_error(
            r,
            i,
            op,
            "matching γ, β and statistics".into(),
            format!("{gdims:?} {bdims:?}"),
        )
    })
}

fn read_pool(
    r: &mut Reader,
    i: usize,
    op: Op,
    kind: PoolKind,
    k: usize,
    stride: usize,
) -> Result<Layer, ModelError> {
    r.tag(&[if kind == PoolKind::Max {
        "max_pool_2"
    } else {
        "avg_pool_2"
    }])?;
    let (nr, nc) = (r.int()?, r.int()?);
    let (sy, sx) = (r.int()?, r.int()?);
    let (py, px) = (r.int()?, r.int()?);
    let pad = default_padding(k, stride) as i64;
    let want = (k as i64, stride as i64, pad);
    if (nr, sy, py) != want || (nc, sx, px) != want {
        return Err(shape_error(
            r,
            i,
            op,
            format!("window {k}x{k} stride {stride} padding {pad}"),
            format!("window {nr}x{nc} stride {sy}x{sx} padding {py}x{px}"),
        ));
    }
    Ok(Layer::Pool(Pool2d {
        kind,
        window_h: k,
        window_w: k,
        stride_y: stride,
        stride_x: stride,
        pad_y: pad as usize,
        pad_x: pad as usize,
    }))
}

fn read_fc(r: &mut Reader, i: usize, op: Op, outputs: usize) -> Result<Layer, ModelError> {
    let version = r.tag(&["fc_2", "fc_3"])?;
    let num_outputs = r.uint()? as usize;
    let num_inputs = r.uint()? as usize;
    let params = r.tensor()?;
    let wdims = r.alias_tensor()?;
    let _bdims = r.alias_tensor()?;
    let bias_mode = r.int()?;
    for _ in 0..4 {
        r.f64()?;
    }
    if version == "fc_3" {
        r.bool()?;
    }
    // fc_bias_mode: FC_HAS_BIAS = 0, FC_NO_BIAS = 1.
    // Products of sizes read from the file, compared without overflowing.
    let area = |a: usize, b: usize| a as u128 * b as u128;
    if num_outputs != outputs
        || bias_mode != 1
        || area(wdims[0], wdims[1]) != area(num_inputs, num_outputs)
    {
        return Err(shape_error(
            r,
            i,
            op,
            format!("{outputs} outputs without bias"),
            format!("{num_outputs} outputs from {num_inputs} inputs, bias mode {bias_mode}"),
        ));
    }
    let weights = slice(r, &params, 0, wdims)?;
    FullyConnected::new(num_inputs, num_outputs, weights)
        .map(Layer::Fc)
        .ok_or_else(|| {
            shape_error(
                r,
                i,
                op,
                format!("{num_inputs}x{num_outputs}"),
                format!("{wdims:?}"),
            )
        })
}

/// A layer compiled for running: an `affine_` and a `relu_` that directly
/// follow a convolution, and a `relu_` after an `add_prev`, are folded into it.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Conv {
        conv: Conv2d,
        affine: Option<Affine>,
        relu: bool,
    },
    Affine(Affine),
    Relu,
    Pool(Pool2d),
    AddPrev {
        tag: u8,
        relu: bool,
    },
    Tag(u8),
    Skip(u8),
}

/// Compiles `layers` into steps; `None` if a fully connected layer is among
/// them (the caller runs that on the pooled features itself).
pub(crate) fn compile(layers: Vec<Layer>) -> Option<Vec<Step>> {
    let mut steps = Vec::with_capacity(layers.len());
    for layer in layers {
        match (layer, steps.last_mut()) {
            (
                Layer::Affine(a),
                Some(Step::Conv {
                    affine: affine @ None,
                    relu: false,
                    ..
                }),
            ) => *affine = Some(a),
            (
                Layer::Relu,
                Some(Step::Conv {
                    relu: relu @ false, ..
                }),
            )
            | (
                Layer::Relu,
                Some(Step::AddPrev {
                    relu: relu @ false, ..
                }),
            ) => *relu = true,
            (Layer::Con(conv), _) => steps.push(Step::Conv {
                conv,
                affine: None,
                relu: false,
            }),
            (Layer::Affine(a), _) => steps.push(Step::Affine(a)),
            (Layer::Relu, _) => steps.push(Step::Relu),
            (Layer::Pool(p), _) => steps.push(Step::Pool(p)),
            (Layer::AddPrev(tag), _) => steps.push(Step::AddPrev { tag, relu: false }),
            (Layer::Tag(n), _) => steps.push(Step::Tag(n)),
            (Layer::Skip(n), _) => steps.push(Step::Skip(n)),
            (Layer::Fc(_), _) => return None,
        }
    }
    Some(steps)
}

/// Runs `steps` on a batch. Tagged outputs are shared, not copied: a layer
/// that changes its input in place copies it only while a tag still holds it.
pub(crate) fn run(steps: &[Step], x: Batch) -> Option<Batch> {
    run_observed(steps, x, &mut |_, _| {})
}

/// Dimensions `(c, n, h, w)` of a step's input.
pub(crate) type Dims = (usize, usize, usize, usize);

/// [`run`], calling `done(step, input_dims)` after each step (for profiling).
pub(crate) fn run_observed(
    steps: &[Step],
    x: Batch,
    done: &mut dyn FnMut(&Step, Dims),
) -> Option<Batch> {
    let mut tags: [Option<Rc<Batch>>; 11] = Default::default();
    let mut x = Rc::new(x);
    for step in steps {
        // A cancelled analysis (faces::Cancel) stops before the next layer.
        if crate::cancel::cancel_requested() {
            return None;
        }
        let dims = x.dim();
        x = match step {
            Step::Conv { conv, affine, relu } => {
                let post = Epilogue {
                    affine: affine.as_ref(),
                    relu: *relu,
                };
                Rc::new(conv.forward_batch(&x, post)?)
            }
            Step::Affine(a) => {
                a.forward_tensor(Rc::make_mut(&mut x))?;
                x
            }
            Step::Relu => {
                relu_tensor(Rc::make_mut(&mut x));
                x
            }
            Step::Pool(p) => Rc::new(p.forward_tensor(&x)?),
            Step::AddPrev { tag, relu } => {
                let other = tags.get(*tag as usize)?.clone()?;
                let own = Rc::try_unwrap(x).unwrap_or_else(|shared| (*shared).clone());
                let mut sum = add_tensors(own, &other);
                if *relu {
                    relu_tensor(&mut sum);
                }
                Rc::new(sum)
            }
            Step::Tag(n) => {
                *tags.get_mut(*n as usize)? = Some(Rc::clone(&x));
                x
            }
            Step::Skip(n) => tags.get(*n as usize)?.clone()?,
        };
        done(step, dims);
    }
    drop(tags);
    Some(Rc::try_unwrap(x).unwrap_or_else(|shared| (*shared).clone()))
}

/// Multiply-adds the convolutions of `steps` perform on one `h × w` input
/// (the figure to compare with a CPU's FMA throughput).
pub(crate) fn multiply_adds(steps: &[Step], h: usize, w: usize) -> Option<u64> {
    let mut tags = [(0usize, 0usize); 11];
    let (mut h, mut w) = (h, w);
    let mut total = 0u64;
    for step in steps {
        (h, w) = match step {
            Step::Conv { conv, .. } => {
                let (oh, ow) = conv.out_dims(h, w)?;
                let p = conv.params();
                total += (oh * ow * p.out_channels * p.patch_len()) as u64;
                (oh, ow)
            }
            Step::Pool(p) => p.out_dims(h, w)?,
            Step::AddPrev { tag, .. } => {
                let (th, tw) = *tags.get(*tag as usize)?;
                (h.max(th), w.max(tw))
            }
            Step::Tag(n) => {
                *tags.get_mut(*n as usize)? = (h, w);
                (h, w)
            }
            Step::Skip(n) => *tags.get(*n as usize)?,
            Step::Affine(_) | Step::Relu => (h, w),
        };
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(data: Vec<f32>) -> Tensor {
        Tensor {
            n: 1,
            k: 1,
            nr: 1,
            nc: data.len(),
            data,
        }
    }

    #[test]
    fn alias_dimensions_whose_product_overflows_are_an_error_not_a_panic() {
        let r = Reader::new(&[], "m.dat");
        let params = tensor(vec![0.0; 4]);
        let huge = [usize::MAX / 2 + 1, 2, 1, 1];
        let err = slice(&r, &params, 0, huge).unwrap_err();
        assert!(
            err.to_string().contains("exceed the parameter tensor"),
            "{err}"
        );
        let err = slice(&r, &params, usize::MAX, [1, 1, 1, 1]).unwrap_err();
        assert!(
            err.to_string().contains("exceed the parameter tensor"),
            "{err}"
        );
        assert_eq!(slice(&r, &params, 1, [1, 1, 1, 2]).unwrap(), vec![0.0; 2]);
    }

    #[test]
    fn fc_sizes_whose_product_overflows_are_a_shape_error_not_a_panic() {
        // fc_2, 128 outputs from 2^62 inputs, an empty tensor, alias dims
        // 1x1x1x1 twice, bias mode 1, four zero floats.
        let mut b = vec![1u8, 4];
        b.extend_from_slice(b"fc_2");
        b.extend_from_slice(&[1, 128, 8, 0, 0, 0, 0, 0, 0, 0, 0x40]);
        b.extend_from_slice(&[1, 2, 1, 0, 1, 0, 1, 0, 1, 0]); // tensor v2, 0x0x0x0
        for _ in 0..2 {
            b.extend_from_slice(&[1, 1, 1, 1, 1, 1, 1, 1, 1, 1]); // alias v1, 1x1x1x1
        }
        b.extend_from_slice(&[1, 1]); // bias mode 1
        for _ in 0..4 {
            b.extend_from_slice(&[1, 0, 1, 0]);
        }
        let mut r = Reader::new(&b, "m.dat");
        let op = Op::FcNoBias { outputs: 128 };
        let err = read_fc(&mut r, 0, op, 128).unwrap_err();
        assert!(matches!(err, ModelError::Shape { .. }), "{err}");
    }
}
