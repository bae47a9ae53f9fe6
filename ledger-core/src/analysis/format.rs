//! Integer formatting for people: thousands separators, carats and US
//! dollars with two decimals. No floats.

/// `1234567` → `1,234,567`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    // The leading group has 1 to 3 digits; every later group has 3.
    let head = match digits.len() % 3 {
        0 => 3,
        r => r,
    }
    .min(digits.len());
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    out.push_str(&digits[..head]);
    for group in digits.as_bytes()[head..].chunks(3) {
        out.push(',');
        out.extend(group.iter().map(|&b| b as char));
    }
    out
}

/// Hundredths as `1,234.56`.
fn hundredths(n: u64) -> String {
    format!("{}.{:02}", group_thousands(n / 100), n % 100)
}

fn signed_hundredths(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", hundredths(n.unsigned_abs()))
}

/// Hundredths of a carat as `1,234.56 ct`.
pub fn format_carats(carat_hundredths: u64) -> String {
    format!("{} ct", hundredths(carat_hundredths))
}

/// A signed difference in hundredths of a carat, as `-1,234.56 ct`.
pub fn format_carats_signed(carat_hundredths: i64) -> String {
    format!("{} ct", signed_hundredths(carat_hundredths))
}

/// US cents as `US$ 12,345.67`.
pub fn format_usd(cents: u64) -> String {
    format!("US$ {}", hundredths(cents))
}

/// A signed difference in US cents, as `US$ -12,345.67`.
pub fn format_usd_signed(cents: i64) -> String {
    format!("US$ {}", signed_hundredths(cents))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1_000), "1,000");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
        assert_eq!(group_thousands(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(format_carats(123_456), "1,234.56 ct");
        assert_eq!(format_carats(5), "0.05 ct");
        assert_eq!(format_usd(1_234_567), "US$ 12,345.67");
        assert_eq!(format_carats_signed(-100_001), "-1,000.01 ct");
        assert_eq!(
            format_usd_signed(i64::MIN),
            "US$ -92,233,720,368,547,758.08"
        );
        assert_eq!(format_usd_signed(7), "US$ 0.07");
    }
}
