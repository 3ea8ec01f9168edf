//! Removing what a photo says about where and when it was taken, and with
//! what, before it is stored: EXIF (GPS included), XMP, IPTC, comments and
//! embedded thumbnails or secondary images.
//!
//! JPEG, PNG and WebP are rewritten at the container level, without
//! re-encoding a pixel. The EXIF orientation is the one fact kept: the
//! engine turns a photo upright by it, so the stored photo and its face
//! analysis agree; when it says anything but "upright", a minimal EXIF
//! block holding only that tag is written back. TIFF and GIF (rare from
//! phones) are decoded upright and re-encoded losslessly as PNG; BMP holds
//! no metadata. A JPEG whose structure cannot be walked is decoded and
//! re-encoded too, rather than refused.

use std::io::Cursor;

use bytes::Bytes;
use homeward_core::intake::{self, DecodeError, Limits};
use image::metadata::Orientation;
use img_parts::png::Png;
use img_parts::webp::WebP;
use img_parts::ImageEXIF;

/// Why a photo's metadata could not be removed.
#[derive(Debug, thiserror::Error)]
pub(super) enum StripError {
    /// The photo could not be decoded to re-encode it.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Re-encoding failed.
    #[error("re-encoding the photo: {0}")]
    Encode(String),
}

/// The photo's bytes without metadata (see the module documentation).
/// Formats this module does not know are returned as they are; intake
/// refuses them afterwards.
pub(super) fn strip(bytes: Vec<u8>, limits: &Limits) -> Result<Vec<u8>, StripError> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        return match strip_jpeg(&bytes) {
            Some(out) => Ok(out),
            None => reencode(&bytes, limits, image::ImageFormat::Jpeg),
        };
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return match strip_png(&bytes) {
            Some(out) => Ok(out),
            None => reencode(&bytes, limits, image::ImageFormat::Png),
        };
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return match strip_webp(&bytes) {
            Some(out) => Ok(out),
            None => reencode(&bytes, limits, image::ImageFormat::Png),
        };
    }
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") || bytes.starts_with(b"GIF8") {
        return reencode(&bytes, limits, image::ImageFormat::Png);
    }
    Ok(bytes)
}

/// The EXIF orientation (1..=8) in an EXIF block (TIFF header first), 1 if none.
fn orientation_of(exif: &[u8]) -> u8 {
    Orientation::from_exif_chunk(exif)
        .map(Orientation::to_exif)
        .filter(|o| (1..=8).contains(o))
        .unwrap_or(1)
}

/// A TIFF-structured EXIF block with one IFD holding only the orientation.
fn orientation_exif(orientation: u8) -> Vec<u8> {
    let mut b = Vec::with_capacity(26);
    b.extend_from_slice(b"MM\0*"); // big-endian TIFF
    b.extend_from_slice(&8u32.to_be_bytes()); // IFD0 right after the header
    b.extend_from_slice(&1u16.to_be_bytes()); // one entry
    b.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    b.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    b.extend_from_slice(&1u32.to_be_bytes()); // count 1
    b.extend_from_slice(&u16::from(orientation).to_be_bytes());
    b.extend_from_slice(&[0, 0]); // value padding
    b.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    b
}

const EXIF_PREFIX: &[u8] = b"Exif\0\0";

/// Walks a JPEG: keeps the image segments, JFIF (APP0), the ICC profile
/// (APP2 `ICC_PROFILE`) and Adobe's colour transform (APP14); drops every
/// other APPn (EXIF, XMP, IPTC, MPF...), comments, and everything after the
/// first image's end (appended previews and depth maps). `None` if the
/// structure cannot be walked.
fn strip_jpeg(b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut orientation = 1u8;
    let mut i = 2usize;
    // Where the orientation block goes: after SOI, or after a leading APP0.
    let mut insert_at = out.len();
    let mut first_segment = true;
    loop {
        // Fill bytes, then a marker.
        if *b.get(i)? != 0xFF {
            return None;
        }
        while *b.get(i)? == 0xFF {
            i += 1;
        }
        let marker = *b.get(i)?;
        i += 1;
        match marker {
            0xD9 => {
                out.extend_from_slice(&[0xFF, 0xD9]);
                break;
            }
            0x01 | 0xD0..=0xD7 => {
                out.extend_from_slice(&[0xFF, marker]);
                continue;
            }
            _ => {}
        }
        let len = usize::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]));
        if len < 2 {
            return None;
        }
        let body = b.get(i + 2..i + len)?;
        let keep = match marker {
            0xE0 => true,
            0xE2 => body.starts_with(b"ICC_PROFILE\0"),
            0xEE => body.starts_with(b"Adobe"),
            0xE1..=0xEF | 0xFE => false,
            _ => true,
        };
        if marker == 0xE1 && body.starts_with(EXIF_PREFIX) && orientation == 1 {
            orientation = orientation_of(&body[EXIF_PREFIX.len()..]);
        }
        if keep {
            out.extend_from_slice(&[0xFF, marker]);
            out.extend_from_slice(b.get(i..i + len)?);
            if marker == 0xE0 && first_segment {
                insert_at = out.len();
            }
        }
        first_segment = false;
        i += len;
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker that is not a
            // stuffed 0xFF00 or a restart marker.
            let start = i;
            loop {
                if *b.get(i)? == 0xFF {
                    let next = *b.get(i + 1)?;
                    if next == 0x00 || (0xD0..=0xD7).contains(&next) || next == 0xFF {
                        i += if next == 0xFF { 1 } else { 2 };
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            out.extend_from_slice(&b[start..i]);
        }
    }
    if orientation != 1 {
        let exif = orientation_exif(orientation);
        let seg_len = u16::try_from(2 + EXIF_PREFIX.len() + exif.len()).ok()?;
        let mut seg = vec![0xFF, 0xE1];
        seg.extend_from_slice(&seg_len.to_be_bytes());
        seg.extend_from_slice(EXIF_PREFIX);
        seg.extend_from_slice(&exif);
        out.splice(insert_at..insert_at, seg);
    }
    Some(out)
}

/// PNG: drops eXIf, text chunks (tEXt, zTXt, iTXt: XMP lives there) and
/// tIME; writes back an orientation-only eXIf if needed.
fn strip_png(b: &[u8]) -> Option<Vec<u8>> {
    let mut png = Png::from_bytes(Bytes::copy_from_slice(b)).ok()?;
    let orientation = png.exif().map_or(1, |e| orientation_of(&e));
    png.chunks_mut()
        .retain(|c| !matches!(&c.kind(), b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt" | b"tIME"));
    if orientation != 1 {
        png.set_exif(Some(Bytes::from(orientation_exif(orientation))));
    }
    let mut out = Vec::with_capacity(b.len());
    png.encoder().write_to(&mut out).ok()?;
    Some(out)
}

/// WebP: drops the EXIF and XMP chunks; writes back an orientation-only
/// EXIF chunk if needed.
fn strip_webp(b: &[u8]) -> Option<Vec<u8>> {
    let mut webp = WebP::from_bytes(Bytes::copy_from_slice(b)).ok()?;
    let orientation = webp.exif().map_or(1, |e| {
        // Some writers keep the JPEG-style prefix in the chunk.
        orientation_of(e.strip_prefix(EXIF_PREFIX).unwrap_or(&e))
    });
    webp.remove_chunks_by_id(*b"XMP ");
    webp.set_exif((orientation != 1).then(|| Bytes::from(orientation_exif(orientation))));
    let mut out = Vec::with_capacity(b.len());
    webp.encoder().write_to(&mut out).ok()?;
    Some(out)
}

/// Decodes (upright, within the intake limits) and re-encodes.
fn reencode(b: &[u8], limits: &Limits, format: image::ImageFormat) -> Result<Vec<u8>, StripError> {
    let photo = intake::load_bytes(b, limits)?;
    let mut out = Cursor::new(Vec::new());
    match format {
        image::ImageFormat::Jpeg => {
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92);
            photo
                .image
                .write_with_encoder(enc)
                .map_err(|e| StripError::Encode(e.to_string()))?;
        }
        _ => photo
            .image
            .write_to(&mut out, image::ImageFormat::Png)
            .map_err(|e| StripError::Encode(e.to_string()))?,
    }
    Ok(out.into_inner())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures")
            .join(name);
        std::fs::read(p).unwrap()
    }

    /// An EXIF block (TIFF, little-endian) with an orientation, a camera
    /// make and a GPS IFD holding a latitude and longitude.
    pub(crate) fn gps_exif(orientation: u16) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(b"II*\0");
        t.extend_from_slice(&8u32.to_le_bytes());
        // IFD0 at 8: 3 entries (2 + 3*12 + 4 = 42) -> ends at 50.
        t.extend_from_slice(&3u16.to_le_bytes());
        let entry = |t: &mut Vec<u8>, tag: u16, ty: u16, n: u32, v: u32| {
            t.extend_from_slice(&tag.to_le_bytes());
            t.extend_from_slice(&ty.to_le_bytes());
            t.extend_from_slice(&n.to_le_bytes());
            t.extend_from_slice(&v.to_le_bytes());
        };
        entry(&mut t, 0x010F, 2, 4, u32::from_le_bytes(*b"ACM\0")); // Make
        entry(&mut t, 0x0112, 3, 1, u32::from(orientation));
        entry(&mut t, 0x8825, 4, 1, 50); // GPS IFD offset
        t.extend_from_slice(&0u32.to_le_bytes());
        // GPS IFD at 50: 4 entries (2 + 48 + 4 = 54) -> rationals at 104.
        t.extend_from_slice(&4u16.to_le_bytes());
        entry(&mut t, 0x0001, 2, 2, u32::from_le_bytes(*b"N\0\0\0"));
        entry(&mut t, 0x0002, 5, 3, 104);
        entry(&mut t, 0x0003, 2, 2, u32::from_le_bytes(*b"E\0\0\0"));
        entry(&mut t, 0x0004, 5, 3, 128);
        t.extend_from_slice(&0u32.to_le_bytes());
        for (num, den) in [
            (39u32, 1u32),
            (54, 1),
            (2700, 100),
            (116, 1),
            (23, 1),
            (1700, 100),
        ] {
            t.extend_from_slice(&num.to_le_bytes());
            t.extend_from_slice(&den.to_le_bytes());
        }
        t
    }

    /// `jpeg` with an EXIF APP1 (GPS), an XMP APP1 and a comment inserted
    /// after SOI, and a second JPEG with EXIF appended after its end.
    pub(crate) fn with_metadata(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let seg = |marker: u8, body: &[u8]| {
            let mut s = vec![0xFF, marker];
            s.extend_from_slice(&u16::try_from(body.len() + 2).unwrap().to_be_bytes());
            s.extend_from_slice(body);
            s
        };
        let mut exif = EXIF_PREFIX.to_vec();
        exif.extend_from_slice(&gps_exif(orientation));
        let mut xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
        xmp.extend_from_slice(
            b"<x:xmpmeta><exif:GPSLatitude>39,54.27N</exif:GPSLatitude></x:xmpmeta>",
        );
        let mut out = jpeg[..2].to_vec();
        out.extend(seg(0xE1, &exif));
        out.extend(seg(0xE1, &xmp));
        out.extend(seg(0xFE, b"taken at home"));
        out.extend_from_slice(&jpeg[2..]);
        // A trailing "preview" image with its own EXIF, as MPF files have.
        out.extend_from_slice(&[0xFF, 0xD8]);
        out.extend(seg(0xE1, &exif));
        out.extend_from_slice(&[0xFF, 0xD9]);
        out
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn jpeg_loses_exif_xmp_comments_and_trailers_but_not_pixels() {
        let src = fixture("obama2.jpg");
        let dirty = with_metadata(&src, 1);
        assert!(contains(&dirty, b"Exif\0\0") && contains(&dirty, b"GPSLatitude"));
        let clean = strip(dirty, &Limits::default()).unwrap();
        assert!(!contains(&clean, b"Exif"));
        assert!(!contains(&clean, b"GPSLatitude") && !contains(&clean, b"taken at home"));
        assert!(!contains(&clean, b"ACM"));
        assert!(clean.ends_with(&[0xFF, 0xD9]));
        // The same pixels as the original stripped the same way.
        let a = intake::load_bytes(&clean, &Limits::default()).unwrap();
        let b = intake::load_bytes(&src, &Limits::default()).unwrap();
        assert_eq!(a.image.as_raw(), b.image.as_raw());
        // Stripping is idempotent.
        assert_eq!(strip(clean.clone(), &Limits::default()).unwrap(), clean);
    }

    #[test]
    fn jpeg_keeps_only_the_orientation() {
        let src = fixture("grace_hopper_exif6.jpg");
        let before = intake::load_bytes(&src, &Limits::default()).unwrap();
        assert_eq!(before.orientation_applied, 6);
        let clean = strip(with_metadata(&src, 6), &Limits::default()).unwrap();
        assert!(!contains(&clean, b"ACM") && !contains(&clean, b"GPSLatitude"));
        let after = intake::load_bytes(&clean, &Limits::default()).unwrap();
        assert_eq!(after.orientation_applied, 6);
        assert_eq!(after.image.as_raw(), before.image.as_raw());
        // The EXIF block left holds one entry: the orientation.
        let at = clean.windows(6).position(|w| w == EXIF_PREFIX).unwrap();
        assert_eq!(orientation_of(&clean[at + 6..]), 6);
        assert_eq!(&clean[at + 6..at + 6 + 26], &orientation_exif(6)[..]);
    }

    #[test]
    fn png_and_webp_lose_exif_and_text() {
        let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8, y as u8, 7]));
        // PNG with eXIf (GPS) and an iTXt XMP chunk.
        let mut png_bytes = Cursor::new(Vec::new());
        img.write_to(&mut png_bytes, image::ImageFormat::Png)
            .unwrap();
        let mut png = Png::from_bytes(Bytes::from(png_bytes.into_inner())).unwrap();
        png.set_exif(Some(Bytes::from(gps_exif(1))));
        let n = png.chunks().len();
        png.chunks_mut().insert(
            n - 1,
            img_parts::png::PngChunk::new(
                *b"iTXt",
                Bytes::from_static(b"XML:com.adobe.xmp\0\0\0\0\0GPSLatitude"),
            ),
        );
        let mut dirty = Vec::new();
        png.encoder().write_to(&mut dirty).unwrap();
        assert!(contains(&dirty, b"GPSLatitude") && contains(&dirty, b"eXIf"));
        let clean = strip(dirty, &Limits::default()).unwrap();
        assert!(!contains(&clean, b"eXIf") && !contains(&clean, b"GPSLatitude"));
        let back = intake::load_bytes(&clean, &Limits::default()).unwrap();
        assert_eq!(back.image.as_raw(), img.as_raw());

        // WebP (lossless) with EXIF and XMP chunks.
        let mut webp_bytes = Cursor::new(Vec::new());
        img.write_to(&mut webp_bytes, image::ImageFormat::WebP)
            .unwrap();
        let mut webp = WebP::from_bytes(Bytes::from(webp_bytes.into_inner())).unwrap();
        webp.set_exif(Some(Bytes::from(gps_exif(1))));
        webp.chunks_mut().push(img_parts::riff::RiffChunk::new(
            *b"XMP ",
            img_parts::riff::RiffContent::Data(Bytes::from_static(b"GPSLatitude")),
        ));
        let mut dirty = Vec::new();
        webp.encoder().write_to(&mut dirty).unwrap();
        assert!(contains(&dirty, b"GPSLatitude") && contains(&dirty, b"EXIF"));
        let clean = strip(dirty, &Limits::default()).unwrap();
        assert!(!contains(&clean, b"EXIF") && !contains(&clean, b"GPSLatitude"));
        let back = intake::load_bytes(&clean, &Limits::default()).unwrap();
        assert_eq!(back.image.as_raw(), img.as_raw());
    }

    #[test]
    fn tiff_is_reencoded_as_png_and_other_bytes_pass() {
        let img = image::RgbImage::from_fn(40, 40, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let mut tiff = Cursor::new(Vec::new());
        img.write_to(&mut tiff, image::ImageFormat::Tiff).unwrap();
        let out = strip(tiff.into_inner(), &Limits::default()).unwrap();
        assert!(out.starts_with(b"\x89PNG"));
        assert_eq!(
            strip(b"not a photo".to_vec(), &Limits::default()).unwrap(),
            b"not a photo"
        );
        // A truncated JPEG is decoded or refused, never passed on with its EXIF.
        let dirty = with_metadata(&fixture("obama2.jpg"), 1);
        let cut = dirty[..400].to_vec();
        if let Ok(b) = strip(cut, &Limits::default()) {
            assert!(!contains(&b, b"GPSLatitude"));
        }
    }
}
