//! Which container formats intake accepts, recognised from the first bytes.

use std::fmt;

/// An image container format that intake decodes.
///
/// The format is always sniffed from the content, never from a file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JPEG / JFIF / EXIF, baseline and progressive, including CMYK.
    Jpeg,
    /// PNG, any bit depth and colour type (APNG: first frame).
    Png,
    /// WebP, lossy and lossless (animated: first frame).
    WebP,
    /// Windows bitmap.
    Bmp,
    /// TIFF (multi-page: first page).
    Tiff,
    /// GIF (animated: first frame).
    Gif,
}

impl Format {
    /// The `image` crate's name for this format.
    pub(super) fn to_image(self) -> image::ImageFormat {
        match self {
            Format::Jpeg => image::ImageFormat::Jpeg,
            Format::Png => image::ImageFormat::Png,
            Format::WebP => image::ImageFormat::WebP,
            Format::Bmp => image::ImageFormat::Bmp,
            Format::Tiff => image::ImageFormat::Tiff,
            Format::Gif => image::ImageFormat::Gif,
        }
    }

    /// Recognises the format from the first bytes.
    ///
    /// `Err` carries the name of a recognised but unsupported format (such as
    /// HEIC from iPhones), or `None` when nothing was recognised.
    pub(super) fn sniff(bytes: &[u8]) -> Result<Format, Option<String>> {
        if let Some(name) = sniff_iso_media(bytes) {
            return Err(Some(name.to_owned()));
        }
        match image::guess_format(bytes) {
            Ok(image::ImageFormat::Jpeg) => Ok(Format::Jpeg),
            Ok(image::ImageFormat::Png) => Ok(Format::Png),
            Ok(image::ImageFormat::WebP) => Ok(Format::WebP),
            Ok(image::ImageFormat::Bmp) => Ok(Format::Bmp),
            Ok(image::ImageFormat::Tiff) => Ok(Format::Tiff),
            Ok(image::ImageFormat::Gif) => Ok(Format::Gif),
            Ok(other) => Err(Some(format!("{other:?}"))),
            Err(_) => Err(None),
        }
    }
}

/// Names HEIF-family files (`ftyp` box), which phones often produce, so the
/// refusal can say what the file is.
fn sniff_iso_media(bytes: &[u8]) -> Option<&'static str> {
    let brand = bytes.get(4..12)?;
    if &brand[..4] != b"ftyp" {
        return None;
    }
    match &brand[4..] {
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" => {
            Some("HEIC/HEIF (on iPhone, choose Settings > Camera > Formats > Most Compatible, or export as JPEG)")
        }
        b"avif" | b"avis" => Some("AVIF"),
        _ => Some("an ISO media file (video or HEIF)"),
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Jpeg => "JPEG",
            Format::Png => "PNG",
            Format::WebP => "WebP",
            Format::Bmp => "BMP",
            Format::Tiff => "TIFF",
            Format::Gif => "GIF",
        })
    }
}
