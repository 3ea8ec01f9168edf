//! The form reader (`multipart.rs`) answers malformed bodies exactly as
//! axum's `Multipart` extractor, which the handlers used before, did: the
//! same status and text for every parser refusal in the fuzz seed corpus.

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;

use super::api::multipart_body;
use super::error::ApiError;

/// The seed corpus's requests: (Content-Type, body).
fn seeds() -> Vec<(String, Vec<u8>, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/multipart");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).expect("corpus") {
        let p = e.expect("entry").path();
        let bytes = std::fs::read(&p).expect("seed");
        let cut = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        let ct = String::from_utf8_lossy(&bytes[..cut]).into_owned();
        let body = bytes.get(cut + 1..).unwrap_or_default().to_vec();
        out.push((ct, body, p.display().to_string()));
    }
    assert!(out.len() >= 10, "seeds in {}", dir.display());
    out
}

fn request(ct: &str, body: &[u8]) -> Request {
    Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", ct)
        .body(axum::body::Body::from(body.to_vec()))
        .expect("request")
}

/// Every part read to its end with axum's extractor; the first refusal as
/// the handlers sent it.
async fn with_axum(ct: &str, body: &[u8]) -> Result<usize, ApiError> {
    let mut mp = Multipart::from_request(request(ct, body), &())
        .await
        .map_err(|e| ApiError::new(e.status(), "bad_request", e.body_text()))?;
    let err = |e: axum::extract::multipart::MultipartError| {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_request"
        };
        ApiError::new(status, code, e.body_text())
    };
    let mut n = 0;
    while let Some(field) = mp.next_field().await.map_err(err)? {
        field.bytes().await.map_err(err)?;
        n += 1;
    }
    Ok(n)
}

/// The same with the parser the handlers now build and `FormError`.
async fn with_reader(ct: &str, body: &[u8]) -> Result<usize, ApiError> {
    let mut mp = multipart_body(request(ct, body), None)?;
    let err = |e| ApiError::from(super::multipart::FormError::Multipart(e));
    let mut n = 0;
    while let Some(field) = mp.next_field().await.map_err(err)? {
        field.bytes().await.map_err(err)?;
        n += 1;
    }
    Ok(n)
}

#[tokio::test]
async fn parser_refusals_are_the_ones_axum_sent() {
    let (mut read, mut refused) = (0, 0);
    for (ct, body, name) in seeds() {
        if !ct.starts_with("multipart/form-data") {
            continue; // the handlers' 415, before any parsing
        }
        let before = with_axum(&ct, &body).await;
        let now = with_reader(&ct, &body).await;
        assert_eq!(now, before, "{name}");
        match now {
            Ok(_) => read += 1,
            Err(_) => refused += 1,
        }
    }
    // The corpus has both: parser refusals (no boundary, truncated, a bad
    // header line, no closing delimiter) and bodies that parse.
    assert!(read >= 10 && refused >= 4, "{read} read, {refused} refused");
}

#[tokio::test]
async fn a_body_over_the_limit_is_the_413_axum_sent() {
    let (ct, body) = (
        "multipart/form-data; boundary=b",
        b"--b\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\n\r\n0123456789\r\n--b--\r\n",
    );
    let mut mp = multipart_body(request(ct, body), Some(40)).expect("parser");
    let got = super::multipart::read_upload(&mut mp, 4096)
        .await
        .map_err(ApiError::from);
    let want = ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        "Request payload is too large",
    );
    assert_eq!(got.err(), Some(want));
    // Within the limit the same body reads.
    let mut mp = multipart_body(request(ct, body), Some(body.len())).expect("parser");
    let up = super::multipart::read_upload(&mut mp, 4096)
        .await
        .expect("read");
    assert_eq!(up.photo.as_deref(), Some(&b"0123456789"[..]));
}
