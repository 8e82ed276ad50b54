//! Helpers shared by the fuzz targets (included with `#[path]`).

/// Splits the input at the first `sep` byte: (before, after). Lets one
/// input carry two independent parts (body and query, segment and side
/// file) while staying a plain byte string the fuzzer can mutate.
#[allow(dead_code)]
pub fn split2(data: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == sep) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}
