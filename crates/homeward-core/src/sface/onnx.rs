//! The little of ONNX that SFace and YuNet need, read straight from the
//! protobuf wire format: the graph's nodes (operator, inputs, outputs,
//! integer, float and string attributes), its float initializers and its
//! 64-bit integer ones (shapes). Anything else in the file (doc strings,
//! value infos, opset imports) is skipped.
//!
//! Wire format: every field is a key `(number << 3) | wire type` (a varint)
//! followed by a varint (type 0), 8 bytes (1), a length-prefixed run (2) or
//! 4 bytes (5). Field numbers are those of `onnx.proto` (ModelProto.graph = 7,
//! GraphProto.node = 1 and initializer = 5, and so on below).

use std::collections::HashMap;

use crate::dlib::ModelError;

/// One operator of the graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Node {
    pub op_type: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    /// Integer and integer-list attributes (`group`, `strides`, `pads`, ...).
    pub ints: HashMap<String, Vec<i64>>,
    /// Float attributes (`epsilon`, `alpha`, ...).
    pub floats: HashMap<String, f32>,
    /// String attributes (`mode`, `coordinate_transformation_mode`, ...).
    pub strings: HashMap<String, String>,
}

impl Node {
    /// The single integer attribute `name`, or `default` when absent.
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.ints
            .get(name)
            .and_then(|v| v.first().copied())
            .unwrap_or(default)
    }
}

/// A float tensor stored in the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Initializer {
    pub dims: Vec<usize>,
    pub data: Vec<f32>,
}

/// The parts of an ONNX model SFace and YuNet are built from.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    pub nodes: Vec<Node>,
    pub initializers: HashMap<String, Initializer>,
    /// 64-bit integer initializers (e.g. `Reshape` shapes), values only.
    pub int_initializers: HashMap<String, Vec<i64>>,
}

/// ONNX `TensorProto.DataType.FLOAT`.
const FLOAT: i64 = 1;
/// ONNX `TensorProto.DataType.INT64`.
const INT64: i64 = 7;
/// Most values an integer initializer may hold (shapes and axes are short).
const MAX_INT_VALUES: usize = 1 << 16;

/// One initializer of either supported type.
enum Tensor {
    Float(Initializer),
    Int(Vec<i64>),
}

/// Why a read failed, before the byte offset and the model name are added.
type Fail = String;

/// A cursor over one protobuf message.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Offset of `bytes` in the whole file, for error messages.
    base: usize,
}

/// One field's value.
enum Value<'a> {
    Varint(u64),
    Fixed32([u8; 4]),
    Fixed64,
    Bytes(Reader<'a>),
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], base: usize) -> Self {
        Reader {
            bytes,
            pos: 0,
            base,
        }
    }

    fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn varint(&mut self) -> Result<u64, Fail> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .bytes
                .get(self.pos)
                .ok_or("the file ends inside a number")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a number is longer than 10 bytes".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Fail> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or("a field runs past the end of its message")?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next field's number and value.
    fn field(&mut self) -> Result<(u64, Value<'a>), Fail> {
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
                let base = self.offset();
                Value::Bytes(Reader::new(self.take(len)?, base))
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32([b[0], b[1], b[2], b[3]])
            }
            t => return Err(format!("unsupported protobuf wire type {t}")),
        };
        Ok((key >> 3, value))
    }

    fn string(self) -> Result<String, Fail> {
        String::from_utf8(self.bytes.to_vec()).map_err(|_| "a name is not UTF-8".into())
    }
}

/// Parses `bytes` as SFace's ONNX file and builds the network from it
/// **without** checking the file's SHA-256, then throws the result away. Only
/// for fuzzing (`fuzz/fuzz_targets/onnx.rs`) and its corpus replay: loading
/// the model for use always goes through [`super::SFace::from_bytes`], which
/// checks the hash first.
#[doc(hidden)]
pub fn parse_unchecked(bytes: &[u8]) -> Result<(), ModelError> {
    let graph = parse(bytes, super::SFACE_FILE)?;
    super::net::Net::build(&graph, super::SFACE_FILE).map(drop)
}

/// Parses `bytes` as an ONNX model; `model` names it in errors.
pub(crate) fn parse(bytes: &[u8], model: &str) -> Result<Graph, ModelError> {
    let mut top = Reader::new(bytes, 0);
    let mut graph = None;
    let mut fail_at = 0;
    let result = (|| -> Result<(), Fail> {
        while !top.at_end() {
            fail_at = top.offset();
            if let (7, Value::Bytes(r)) = top.field()? {
                graph = Some(parse_graph(r, &mut fail_at)?);
            }
        }
        Ok(())
    })();
    result.map_err(|message| ModelError::Format {
        model: model.to_string(),
        offset: fail_at,
        message,
    })?;
    graph.ok_or_else(|| ModelError::Format {
        model: model.to_string(),
        offset: bytes.len(),
        message: "no graph in the file: it is not an ONNX model".to_string(),
    })
}

fn parse_graph(mut r: Reader, fail_at: &mut usize) -> Result<Graph, Fail> {
    let mut g = Graph::default();
    while !r.at_end() {
        *fail_at = r.offset();
        match r.field()? {
            (1, Value::Bytes(m)) => g.nodes.push(parse_node(m)?),
            (5, Value::Bytes(m)) => match parse_tensor(m)? {
                (name, Tensor::Float(t)) => {
                    g.initializers.insert(name, t);
                }
                (name, Tensor::Int(v)) => {
                    g.int_initializers.insert(name, v);
                }
            },
            _ => {}
        }
    }
    Ok(g)
}

fn parse_node(mut r: Reader) -> Result<Node, Fail> {
    let mut n = Node::default();
    while !r.at_end() {
        match r.field()? {
            (1, Value::Bytes(s)) => n.inputs.push(s.string()?),
            (2, Value::Bytes(s)) => n.outputs.push(s.string()?),
            (4, Value::Bytes(s)) => n.op_type = s.string()?,
            (5, Value::Bytes(a)) => parse_attribute(a, &mut n)?,
            _ => {}
        }
    }
    Ok(n)
}

fn parse_attribute(mut r: Reader, node: &mut Node) -> Result<(), Fail> {
    let mut name = String::new();
    let mut ints = Vec::new();
    let mut float = None;
    let mut string = None;
    while !r.at_end() {
        match r.field()? {
            (1, Value::Bytes(s)) => name = s.string()?,
            (2, Value::Fixed32(b)) => float = Some(f32::from_le_bytes(b)),
            (4, Value::Bytes(s)) => string = Some(s.string()?),
            (3, Value::Varint(v)) | (8, Value::Varint(v)) => ints.push(v as i64),
            (8, Value::Bytes(mut packed)) => {
                while !packed.at_end() {
                    ints.push(packed.varint()? as i64);
                }
            }
            _ => {}
        }
    }
    if let Some(f) = float {
        node.floats.insert(name.clone(), f);
    }
    if let Some(s) = string {
        node.strings.insert(name.clone(), s);
    }
    if !ints.is_empty() {
        node.ints.insert(name, ints);
    }
    Ok(())
}

fn parse_tensor(mut r: Reader) -> Result<(String, Tensor), Fail> {
    let mut name = String::new();
    let mut dims = Vec::new();
    let mut data_type = FLOAT;
    let mut data = Vec::new();
    let mut ints: Vec<i64> = Vec::new();
    let mut raw: &[u8] = &[];
    while !r.at_end() {
        if ints.len() > MAX_INT_VALUES {
            return Err(format!("tensor {name:?} holds too many integers"));
        }
        match r.field()? {
            (1, Value::Varint(v)) => dims.push(v),
            (1, Value::Bytes(mut packed)) => {
                while !packed.at_end() {
                    dims.push(packed.varint()?);
                }
            }
            (2, Value::Varint(v)) => data_type = v as i64,
            (4, Value::Fixed32(b)) => data.push(f32::from_le_bytes(b)),
            (7, Value::Varint(v)) => ints.push(v as i64),
            (7, Value::Bytes(mut packed)) => {
                while !packed.at_end() && ints.len() <= MAX_INT_VALUES {
                    ints.push(packed.varint()? as i64);
                }
            }
            (9, Value::Bytes(bytes)) if data_type == INT64 => raw = bytes.bytes,
            (4, Value::Bytes(packed)) | (9, Value::Bytes(packed)) => {
                if packed.bytes.len() % 4 != 0 {
                    return Err("float data is not a whole number of 4-byte floats".into());
                }
                data.extend(
                    packed
                        .bytes
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
            }
            (8, Value::Bytes(s)) => name = s.string()?,
            _ => {}
        }
    }
    if data_type == INT64 {
        if !raw.len().is_multiple_of(8) || raw.len() / 8 > MAX_INT_VALUES {
            return Err(format!(
                "tensor {name:?}: integer data is not a short run of 8-byte integers"
            ));
        }
        ints.extend(
            raw.chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])),
        );
        let count = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        if count != Some(ints.len() as u64) {
            return Err(format!(
                "tensor {name:?} has dims {dims:?} but {} integers are stored",
                ints.len()
            ));
        }
        return Ok((name, Tensor::Int(ints)));
    }
    if data_type != FLOAT {
        return Err(format!(
            "tensor {name:?} has ONNX data type {data_type}, only float (1) and int64 (7) are supported"
        ));
    }
    let dims: Vec<usize> = dims
        .into_iter()
        .map(|d| usize::try_from(d).map_err(|_| format!("tensor {name:?}: dimension too large")))
        .collect::<Result<_, _>>()?;
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("tensor {name:?}: size overflows"))?;
    if count != data.len() {
        return Err(format!(
            "tensor {name:?} has dims {dims:?} ({count} values) but {} values are stored",
            data.len()
        ));
    }
    Ok((name, Tensor::Float(Initializer { dims, data })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn bytes_field(num: u64, payload: &[u8], out: &mut Vec<u8>) {
        varint(num << 3 | 2, out);
        varint(payload.len() as u64, out);
        out.extend_from_slice(payload);
    }

    /// A one-node model with one initializer, written field by field.
    fn tiny_model(values: &[f32], dims: &[u64]) -> Vec<u8> {
        let mut attr = vec![];
        bytes_field(1, b"strides", &mut attr);
        let mut packed = vec![];
        varint(2, &mut packed);
        varint(2, &mut packed);
        bytes_field(8, &packed, &mut attr);
        let mut eps = vec![];
        bytes_field(1, b"epsilon", &mut eps);
        eps.push(2 << 3 | 5);
        eps.extend_from_slice(&0.5f32.to_le_bytes());
        let mut node = vec![];
        bytes_field(1, b"x", &mut node);
        bytes_field(1, b"w", &mut node);
        bytes_field(2, b"y", &mut node);
        bytes_field(4, b"Conv", &mut node);
        bytes_field(5, &attr, &mut node);
        bytes_field(5, &eps, &mut node);
        let mut tensor = vec![];
        for &d in dims {
            varint(1 << 3, &mut tensor);
            varint(d, &mut tensor);
        }
        varint(2 << 3, &mut tensor);
        varint(1, &mut tensor);
        bytes_field(8, b"w", &mut tensor);
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        bytes_field(9, &raw, &mut tensor);
        let mut graph = vec![];
        bytes_field(1, &node, &mut graph);
        bytes_field(5, &tensor, &mut graph);
        let mut model = vec![];
        varint(1 << 3, &mut model); // ir_version
        varint(6, &mut model);
        bytes_field(7, &graph, &mut model);
        model
    }

    #[test]
    fn reads_nodes_attributes_and_initializers() {
        let g = parse(&tiny_model(&[1.0, -2.0], &[2, 1]), "tiny").unwrap();
        assert_eq!(g.nodes.len(), 1);
        let n = &g.nodes[0];
        assert_eq!(n.op_type, "Conv");
        assert_eq!(n.inputs, ["x", "w"]);
        assert_eq!(n.outputs, ["y"]);
        assert_eq!(n.ints["strides"], [2, 2]);
        assert_eq!(n.int("group", 1), 1);
        assert_eq!(n.floats["epsilon"], 0.5);
        let w = &g.initializers["w"];
        assert_eq!(
            (w.dims.clone(), w.data.clone()),
            (vec![2, 1], vec![1.0, -2.0])
        );
    }

    #[test]
    fn refuses_truncated_files_and_wrong_sizes() {
        let model = tiny_model(&[1.0, -2.0], &[2, 1]);
        for cut in [3, model.len() / 2, model.len() - 1] {
            let e = parse(&model[..cut], "tiny").unwrap_err();
            assert!(matches!(e, ModelError::Format { .. }), "cut {cut}: {e}");
        }
        let e = parse(&tiny_model(&[1.0, -2.0], &[3]), "tiny").unwrap_err();
        assert!(e.to_string().contains("3 values"), "{e}");
        let e = parse(b"", "empty").unwrap_err();
        assert!(e.to_string().contains("not an ONNX model"), "{e}");
    }

    #[test]
    fn reads_int64_tensors_and_string_attributes() {
        let mut attr = vec![];
        bytes_field(1, b"mode", &mut attr);
        bytes_field(4, b"nearest", &mut attr);
        let mut node = vec![];
        bytes_field(1, b"x", &mut node);
        bytes_field(2, b"y", &mut node);
        bytes_field(4, b"Resize", &mut node);
        bytes_field(5, &attr, &mut node);
        // Shape [1, -1, 4] as raw little-endian int64, and [2] packed.
        let int_tensor = |name: &[u8], raw: Option<&[i64]>, packed: Option<&[i64]>| {
            let mut t = vec![];
            let n = raw.or(packed).unwrap().len() as u64;
            varint(1 << 3, &mut t);
            varint(n, &mut t);
            varint(2 << 3, &mut t);
            varint(7, &mut t);
            bytes_field(8, name, &mut t);
            if let Some(r) = raw {
                let b: Vec<u8> = r.iter().flat_map(|v| v.to_le_bytes()).collect();
                bytes_field(9, &b, &mut t);
            }
            if let Some(p) = packed {
                let mut b = vec![];
                for &v in p {
                    varint(v as u64, &mut b);
                }
                bytes_field(7, &b, &mut t);
            }
            t
        };
        let mut graph = vec![];
        bytes_field(1, &node, &mut graph);
        bytes_field(
            5,
            &int_tensor(b"shape", Some(&[1, -1, 4]), None),
            &mut graph,
        );
        bytes_field(5, &int_tensor(b"axes", None, Some(&[2])), &mut graph);
        let mut model = vec![];
        bytes_field(7, &graph, &mut model);
        let g = parse(&model, "ints").unwrap();
        assert_eq!(g.nodes[0].strings["mode"], "nearest");
        assert_eq!(g.int_initializers["shape"], [1, -1, 4]);
        assert_eq!(g.int_initializers["axes"], [2]);
        assert!(g.initializers.is_empty());
        // A count that disagrees with the dims is refused.
        let mut graph = vec![];
        let mut bad = int_tensor(b"shape", Some(&[1, -1, 4]), None);
        bad[1] = 5; // dims [5]
        bytes_field(5, &bad, &mut graph);
        let mut model = vec![];
        bytes_field(7, &graph, &mut model);
        let e = parse(&model, "ints").unwrap_err();
        assert!(e.to_string().contains("integers are stored"), "{e}");
    }
}
