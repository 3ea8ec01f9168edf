//! Reader for dlib's binary serialization format (`dlib/serialize.h`).
//!
//! Encodings, as dlib writes them:
//!
//! | value          | bytes                                                                 |
//! |----------------|-----------------------------------------------------------------------|
//! | integer        | control byte `0x80·neg | n` (n = 1..=8), then n bytes little-endian    |
//! | float / double | `float_details`: mantissa (int64) then exponent (int16); value = m·2^e |
//! | bool           | ASCII `'0'` or `'1'`                                                   |
//! | string         | length (unsigned integer) then the bytes                               |
//! | `std::vector`  | length (unsigned integer) then each element                            |
//! | `matrix`       | `-rows`, `-cols` (integers) then each element row-major                 |
//! | tensor         | version 2, then n, k, nr, nc (integers), then n·k·nr·nc f32 LE           |
//!
//! Every read is bounds-checked; a short or malformed file gives
//! [`ModelError::Format`] with the byte offset, never a panic.

use super::ModelError;

/// Exponent values that `float_details` reserves for infinities and NaN.
const FLOAT_IS_INF: i64 = 32000;
const FLOAT_IS_NINF: i64 = 32001;
const FLOAT_IS_NAN: i64 = 32002;

/// The fewest bytes a serialized float takes (mantissa and exponent, each a
/// control byte and at least one byte).
pub(crate) const MIN_FLOAT_BYTES: usize = 4;

/// A 4-d tensor as dlib stores it: `num_samples × k × nr × nc`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tensor {
    pub n: usize,
    pub k: usize,
    pub nr: usize,
    pub nc: usize,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn len(&self) -> usize {
        self.data.len()
    }
}

/// A cursor over a serialized dlib object.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    model: &'a str,
}

impl<'a> Reader<'a> {
    /// `model` names the file in error messages.
    pub fn new(buf: &'a [u8], model: &'a str) -> Self {
        Reader { buf, pos: 0, model }
    }

    #[cfg(test)]
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn is_at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// An error at the current offset.
    pub fn error(&self, message: impl Into<String>) -> ModelError {
        ModelError::Format {
            model: self.model.to_string(),
            offset: self.pos,
            message: message.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ModelError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| self.error(format!("file ends early: wanted {n} more bytes")))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, ModelError> {
        Ok(self.take(1)?[0])
    }

    /// A signed integer (`pack_int` for signed types).
    pub fn int(&mut self) -> Result<i64, ModelError> {
        let control = self.byte()?;
        let negative = control & 0x80 != 0;
        let size = (control & 0x0F) as usize;
        if size == 0 || size > 8 {
            return Err(self.error(format!("bad integer control byte 0x{control:02x}")));
        }
        let mut value: u64 = 0;
        for (i, b) in self.take(size)?.iter().enumerate() {
            value |= (*b as u64) << (8 * i);
        }
        let value = value as i64;
        Ok(if negative {
            value.wrapping_neg()
        } else {
            value
        })
    }

    /// An unsigned integer (`pack_int` for unsigned types).
    pub fn uint(&mut self) -> Result<u64, ModelError> {
        let control = self.byte()? & 0x8F;
        let size = control as usize;
        if size == 0 || size > 8 {
            return Err(self.error(format!("bad unsigned control byte 0x{control:02x}")));
        }
        let mut value: u64 = 0;
        for (i, b) in self.take(size)?.iter().enumerate() {
            value |= (*b as u64) << (8 * i);
        }
        Ok(value)
    }

    /// A count or size that must be non-negative and below `limit`.
    pub fn size(&mut self, limit: usize) -> Result<usize, ModelError> {
        let v = self.uint()?;
        if v as u128 > limit as u128 {
            return Err(self.error(format!("size {v} is larger than the limit {limit}")));
        }
        Ok(v as usize)
    }

    /// A dlib `float_details` value.
    pub fn f64(&mut self) -> Result<f64, ModelError> {
        let first = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| self.error("file ends early: wanted a float"))?;
        if first & 0x70 != 0 {
            return Err(self.error("old ASCII float encoding is not supported"));
        }
        let mantissa = self.int()?;
        let exponent = self.int()?;
        Ok(match exponent {
            FLOAT_IS_INF => f64::INFINITY,
            FLOAT_IS_NINF => f64::NEG_INFINITY,
            FLOAT_IS_NAN => f64::NAN,
            e => {
                let e = i32::try_from(e).map_err(|_| self.error("float exponent out of range"))?;
                (mantissa as f64) * 2f64.powi(e)
            }
        })
    }

    pub fn f32(&mut self) -> Result<f32, ModelError> {
        Ok(self.f64()? as f32)
    }

    pub fn bool(&mut self) -> Result<bool, ModelError> {
        match self.byte()? {
            b'1' => Ok(true),
            b'0' => Ok(false),
            other => Err(self.error(format!("bad bool byte 0x{other:02x}"))),
        }
    }

    pub fn string(&mut self) -> Result<String, ModelError> {
        let len = self.size(1 << 20)?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.error("string is not UTF-8"))
    }

    /// Reads a string and checks that it is one of `expected` (dlib's layer
    /// version tags such as `"con_5"`); returns the one found.
    pub fn tag(&mut self, expected: &[&str]) -> Result<String, ModelError> {
        let at = self.pos;
        let found = self.string()?;
        if expected.contains(&found.as_str()) {
            Ok(found)
        } else {
            self.pos = at;
            Err(self.error(format!("expected {expected:?}, found {found:?}")))
        }
    }

    /// Reads an integer version and checks it.
    pub fn version(&mut self, expected: i64, what: &str) -> Result<(), ModelError> {
        let at = self.pos;
        let v = self.int()?;
        if v != expected {
            self.pos = at;
            return Err(self.error(format!("{what}: expected version {expected}, found {v}")));
        }
        Ok(())
    }

    /// A dlib `matrix<float>` (column vectors included): `(rows, cols, data)`.
    pub fn matrix_f32(&mut self) -> Result<(usize, usize, Vec<f32>), ModelError> {
        // dlib writes the sizes negated; i64::MIN has no negation.
        let (nr, nc) = (self.int()?, self.int()?);
        let (Some(nr), Some(nc)) = (nr.checked_neg(), nc.checked_neg()) else {
            return Err(self.error(format!("bad matrix size {nr}x{nc}")));
        };
        if nr < 0 || nc < 0 {
            return Err(self.error(format!("bad matrix size {nr}x{nc}")));
        }
        // Each element is a float of at least 4 bytes (two integers): a size
        // the rest of the file cannot hold is refused before allocating.
        let len = (nr as u64).saturating_mul(nc as u64);
        if len > (self.remaining() / MIN_FLOAT_BYTES) as u64 {
            return Err(self.error(format!("matrix {nr}x{nc} is larger than the file")));
        }
        let mut data = Vec::with_capacity(len as usize);
        for _ in 0..len {
            data.push(self.f32()?);
        }
        Ok((nr as usize, nc as usize, data))
    }

    /// Bytes not read yet: the most any length field can still describe.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// A `resizable_tensor` (version 2, raw little-endian f32 data).
    pub fn tensor(&mut self) -> Result<Tensor, ModelError> {
        self.version(2, "tensor")?;
        let mut dims = [0usize; 4];
        for d in &mut dims {
            let v = self.int()?;
            *d = usize::try_from(v).map_err(|_| self.error(format!("bad tensor dimension {v}")))?;
        }
        let len = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let len = len
            .filter(|&l| l.checked_mul(4).is_some_and(|b| b <= self.remaining()))
            .ok_or_else(|| self.error(format!("tensor {dims:?} is larger than the file")))?;
        let bytes = self.take(len * 4)?;
        let data = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let [n, k, nr, nc] = dims;
        Ok(Tensor { n, k, nr, nc, data })
    }

    /// An `alias_tensor` header (version 1 and four dimensions): returns the
    /// element count it covers.
    pub fn alias_tensor(&mut self) -> Result<[usize; 4], ModelError> {
        self.version(1, "alias_tensor")?;
        let mut dims = [0usize; 4];
        for d in &mut dims {
            let v = self.int()?;
            *d = usize::try_from(v).map_err(|_| self.error(format!("bad alias dimension {v}")))?;
        }
        Ok(dims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_trip_dlib_encoding() {
        // 0 -> [1, 0]; 300 -> [2, 0x2c, 0x01]; -5 -> [0x81, 5]
        let bytes = [1u8, 0, 2, 0x2c, 0x01, 0x81, 5];
        let mut r = Reader::new(&bytes, "test");
        assert_eq!(r.int().unwrap(), 0);
        assert_eq!(r.int().unwrap(), 300);
        assert_eq!(r.int().unwrap(), -5);
        assert!(r.is_at_end());
    }

    #[test]
    fn float_details_decode() {
        // 0.75 = 3 * 2^-2: mantissa [1, 3], exponent [0x81, 2]
        let bytes = [1u8, 3, 0x81, 2];
        let mut r = Reader::new(&bytes, "test");
        assert_eq!(r.f64().unwrap(), 0.75);
    }

    #[test]
    fn strings_and_bools() {
        let bytes = [1u8, 3, b'f', b'c', b'_', b'1', b'0'];
        let mut r = Reader::new(&bytes, "test");
        assert_eq!(r.string().unwrap(), "fc_");
        assert!(r.bool().unwrap());
        assert!(!r.bool().unwrap());
    }

    #[test]
    fn truncated_input_is_an_error_with_offset() {
        let bytes = [4u8, 1, 2];
        let mut r = Reader::new(&bytes, "m.dat");
        let err = r.int().unwrap_err().to_string();
        assert!(err.contains("m.dat"), "{err}");
        assert!(err.contains("offset 1"), "{err}");
    }

    #[test]
    fn huge_tensor_header_is_refused() {
        // version 2, dims 1000000 x 1000000 x 1 x 1, no data
        let bytes = [1u8, 2, 3, 0x40, 0x42, 0x0f, 3, 0x40, 0x42, 0x0f, 1, 1, 1, 1];
        let mut r = Reader::new(&bytes, "m.dat");
        assert!(r.tensor().is_err());
    }

    #[test]
    fn matrix_size_without_a_negation_is_an_error_not_a_panic() {
        // rows = i64::MIN (control 0x08, bytes 00 … 80), cols = -1
        let bytes = [8u8, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x81, 1, 1, 0, 1, 0];
        let err = Reader::new(&bytes, "m.dat").matrix_f32().unwrap_err();
        assert!(err.to_string().contains("bad matrix size"), "{err}");
    }

    #[test]
    fn matrix_longer_than_the_rest_of_the_file_is_refused_before_reading() {
        // a 1 x 3 column claims 3 floats (12 bytes at least); 8 bytes follow
        let bytes = [0x81u8, 1, 0x81, 3, 1, 1, 1, 0, 1, 1, 1, 0];
        let err = Reader::new(&bytes, "m.dat").matrix_f32().unwrap_err();
        assert!(err.to_string().contains("larger than the file"), "{err}");
    }

    #[test]
    fn wrong_tag_names_what_was_expected() {
        let bytes = [1u8, 2, b'x', b'y'];
        let mut r = Reader::new(&bytes, "m.dat");
        let err = r.tag(&["con_5"]).unwrap_err().to_string();
        assert!(err.contains("con_5") && err.contains("xy"), "{err}");
    }
}
