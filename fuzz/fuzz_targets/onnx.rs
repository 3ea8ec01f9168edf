//! SFace's ONNX reader (`sface/onnx.rs`) and the network built from its
//! graph, on arbitrary bytes, without the SHA-256 check that guards them in
//! use. Must never panic, and no single allocation may exceed 16 times the
//! input plus 1 MiB.
#![no_main]

#[path = "../checks/alloc.rs"]
mod alloc;
#[path = "../checks/onnx.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: alloc::Capped = alloc::Capped;

fuzz_target!(|data: &[u8]| {
    alloc::capped(data.len(), 16, 1 << 20, || drop(checks::run(data)));
});
