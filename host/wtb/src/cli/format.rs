//! Human-friendly numbers.

pub use wtb_core::units::bytes;

/// `850 µs`, `1.2 ms`, `3.4 s`.
pub fn micros(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(micros(850), "850 µs");
        assert_eq!(micros(1_250), "1.2 ms");
    }
}
