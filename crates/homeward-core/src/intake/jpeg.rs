//! JPEG completeness check. The JPEG decoder fills missing data with grey
//! instead of failing, so intake walks the marker structure itself and
//! refuses a stream that stops before its end-of-image marker, as PIL does.

/// Returns `Err(detail)` when the JPEG stream stops before its end-of-image
/// (EOI) marker. Only structure is checked; the decoder checks the content.
///
/// Lenient where readers are lenient: bytes between segments are skipped
/// and anything after EOI is ignored.
pub(super) fn check_complete(bytes: &[u8]) -> Result<(), String> {
    const SOS: u8 = 0xDA;
    const EOI: u8 = 0xD9;
    let truncated = |what: &str| {
        format!(
            "the data stops after {} bytes, {what}, before the end-of-image marker",
            bytes.len()
        )
    };

    // The format sniffer guarantees the SOI marker (FF D8) at the start.
    let mut pos = 2;
    loop {
        // Find the next marker: skip stray bytes, then 0xFF fill bytes.
        while pos < bytes.len() && bytes[pos] != 0xFF {
            pos += 1;
        }
        while pos < bytes.len() && bytes[pos] == 0xFF {
            pos += 1;
        }
        let Some(&marker) = bytes.get(pos) else {
            return Err(truncated("between segments"));
        };
        pos += 1;
        match marker {
            EOI => return Ok(()),
            // Markers without a length: restart markers, SOI, TEM, and a
            // stuffed zero found outside a scan.
            0xD0..=0xD8 | 0x01 | 0x00 => continue,
            _ => {}
        }
        let Some(length) = bytes.get(pos..pos + 2) else {
            return Err(truncated(&format!(
                "in the header of segment FF{marker:02X}"
            )));
        };
        let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
        if length < 2 {
            return Err(format!(
                "segment FF{marker:02X} at byte {} declares an impossible length {length}",
                pos - 2
            ));
        }
        let end = pos + length;
        if end > bytes.len() {
            return Err(truncated(&format!("inside segment FF{marker:02X}")));
        }
        pos = end;
        if marker == SOS {
            pos = skip_entropy_coded(bytes, pos)
                .ok_or_else(|| truncated("inside the compressed image data"))?;
        }
    }
}

/// Skips entropy-coded scan data from `pos`; returns the position of the
/// marker that ends it, or `None` when the data runs out first.
fn skip_entropy_coded(bytes: &[u8], mut pos: usize) -> Option<usize> {
    while pos + 1 < bytes.len() {
        if bytes[pos] != 0xFF {
            pos += 1;
            continue;
        }
        match bytes[pos + 1] {
            // Stuffed 0xFF data byte, or a restart marker inside the scan.
            0x00 | 0xD0..=0xD7 => pos += 2,
            // Fill byte: look again from the next 0xFF.
            0xFF => pos += 1,
            _ => return Some(pos),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::check_complete;

    /// SOI, a COM segment, SOS with 3 bytes of scan data (a stuffed FF00 and a
    /// restart marker included), EOI.
    const MINIMAL: &[u8] = &[
        0xFF, 0xD8, // SOI
        0xFF, 0xFE, 0x00, 0x04, b'h', b'i', // COM
        0xFF, 0xDA, 0x00, 0x02, // SOS (header only)
        0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, // scan data
        0xFF, 0xD9, // EOI
    ];

    #[test]
    fn a_complete_stream_passes_even_with_trailing_bytes() {
        assert_eq!(check_complete(MINIMAL), Ok(()));
        let mut trailing = MINIMAL.to_vec();
        trailing.extend_from_slice(b"vendor trailer");
        assert_eq!(check_complete(&trailing), Ok(()));
    }

    #[test]
    fn every_truncation_is_refused() {
        for keep in 2..MINIMAL.len() {
            assert!(
                check_complete(&MINIMAL[..keep]).is_err(),
                "keeping {keep} bytes"
            );
        }
    }

    #[test]
    fn an_impossible_segment_length_is_refused() {
        let bad = [0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x01, 0xFF, 0xD9];
        assert!(check_complete(&bad).is_err());
    }
}
