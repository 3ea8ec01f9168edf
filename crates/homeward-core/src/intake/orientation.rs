//! EXIF orientation: reading the tag and turning the pixels upright.

use image::imageops;
use image::metadata::Orientation;
use image::{ImageDecoder, RgbImage};

/// Reads the orientation the image declares (JPEG/PNG/WebP EXIF, the TIFF
/// tag), as an EXIF value 1..=8.
///
/// A missing, unreadable or out-of-range tag counts as 1 (already upright):
/// a photo is never refused because of broken metadata.
pub(super) fn read(decoder: &mut impl ImageDecoder) -> u8 {
    decoder
        .orientation()
        .unwrap_or(Orientation::NoTransforms)
        .to_exif()
}

/// Whether every chunk of a WebP file (RIFF) fits in the bytes that remain.
///
/// The WebP decoder sizes a metadata chunk's buffer from the chunk's own
/// header before reading it, so a 122-byte file whose `EXIF` chunk claims
/// 4 GiB would allocate 4 GiB when its orientation is asked for (found by
/// the `intake` fuzz target under AddressSanitizer). A file whose chunks do
/// not fit is read as upright, without asking the decoder.
pub(super) fn webp_chunks_fit(bytes: &[u8]) -> bool {
    let mut at = 12; // "RIFF", its size, "WEBP"
    while at < bytes.len() {
        let Some(header) = bytes.get(at..at + 8) else {
            return false;
        };
        let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let Ok(size) = usize::try_from(size) else {
            return false;
        };
        let end = (at + 8).saturating_add(size);
        if end > bytes.len() {
            return false;
        }
        // Chunks are padded to an even length.
        at = end + (size & 1);
    }
    true
}

/// Applies EXIF orientation `exif` (1..=8) so that the image is upright.
/// Values outside 1..=8 leave the image unchanged.
pub(super) fn apply(image: RgbImage, exif: u8) -> RgbImage {
    let Some(orientation) = Orientation::from_exif(exif) else {
        return image;
    };
    let mut image = image;
    match orientation {
        Orientation::NoTransforms => image,
        Orientation::FlipHorizontal => {
            imageops::flip_horizontal_in_place(&mut image);
            image
        }
        Orientation::Rotate180 => {
            imageops::rotate180_in_place(&mut image);
            image
        }
        Orientation::FlipVertical => {
            imageops::flip_vertical_in_place(&mut image);
            image
        }
        // EXIF 5: transpose (mirror along the main diagonal).
        Orientation::Rotate90FlipH => {
            let mut out = imageops::rotate90(&image);
            imageops::flip_horizontal_in_place(&mut out);
            out
        }
        Orientation::Rotate90 => imageops::rotate90(&image),
        // EXIF 7: transverse (mirror along the anti-diagonal).
        Orientation::Rotate270FlipH => {
            let mut out = imageops::rotate270(&image);
            imageops::flip_horizontal_in_place(&mut out);
            out
        }
        Orientation::Rotate270 => imageops::rotate270(&image),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x2 image whose pixel at (x, y) has red = 10*x + y, so every
    /// transform is recognisable.
    fn sample() -> RgbImage {
        RgbImage::from_fn(3, 2, |x, y| image::Rgb([(10 * x + y) as u8, 0, 0]))
    }

    fn red(img: &RgbImage) -> Vec<Vec<u8>> {
        (0..img.height())
            .map(|y| (0..img.width()).map(|x| img.get_pixel(x, y)[0]).collect())
            .collect()
    }

    #[test]
    fn each_orientation_matches_its_definition() {
        // Stored rows are [0 10 20] / [1 11 21]. Each entry is the upright
        // result the EXIF specification asks for.
        let expected: [(u8, Vec<Vec<u8>>); 8] = [
            (1, vec![vec![0, 10, 20], vec![1, 11, 21]]),
            (2, vec![vec![20, 10, 0], vec![21, 11, 1]]),
            (3, vec![vec![21, 11, 1], vec![20, 10, 0]]),
            (4, vec![vec![1, 11, 21], vec![0, 10, 20]]),
            (5, vec![vec![0, 1], vec![10, 11], vec![20, 21]]),
            (6, vec![vec![1, 0], vec![11, 10], vec![21, 20]]),
            (7, vec![vec![21, 20], vec![11, 10], vec![1, 0]]),
            (8, vec![vec![20, 21], vec![10, 11], vec![0, 1]]),
        ];
        for (exif, rows) in expected {
            assert_eq!(red(&apply(sample(), exif)), rows, "orientation {exif}");
        }
    }

    #[test]
    fn out_of_range_values_leave_the_image_alone() {
        assert_eq!(red(&apply(sample(), 0)), red(&sample()));
        assert_eq!(red(&apply(sample(), 9)), red(&sample()));
    }
}
