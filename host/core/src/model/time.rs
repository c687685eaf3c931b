//! Timestamps in whole microseconds since the Unix epoch: exactly what SQLite stores, so a
//! value read back equals the value written. As JSON an instant is RFC 3339 text in UTC with
//! all six fractional digits (what clients and the OpenAPI `date-time` format expect, and
//! exact); integer microseconds, what older bundles hold, are still read.

/// A point in time, in microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Timestamp(i64);

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// In the API document: an RFC 3339 `date-time`.
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::string_schema(Some(utoipa::openapi::KnownFormat::DateTime), None)
    }
}
impl utoipa::ToSchema for Timestamp {}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Text or integer microseconds.
        struct Instant;
        impl serde::de::Visitor<'_> for Instant {
            type Value = Timestamp;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an RFC 3339 time or microseconds since the Unix epoch")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Ok(Timestamp(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Timestamp, E> {
                i64::try_from(v).map(Timestamp).map_err(|_| E::custom("instant out of range"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse_exact(v).ok_or_else(|| E::custom(format!("`{v}` is not an RFC 3339 time")))
            }
        }
        d.deserialize_any(Instant)
    }
}

impl Timestamp {
    /// From microseconds since the epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the epoch.
    pub const fn micros(&self) -> i64 {
        self.0
    }

    /// Microseconds from `earlier` to `self` (0 if `earlier` is later).
    pub fn micros_since(&self, earlier: Timestamp) -> u64 {
        u64::try_from(self.0 - earlier.0).unwrap_or(0)
    }
}

impl Timestamp {
    /// An instant as people type it: RFC 3339 (`2026-11-23T10:00:00Z`, offsets allowed, UTC
    /// without one) or a UTC date (`2026-11-23`, its midnight).
    pub fn parse_instant(text: &str) -> Option<Self> {
        match text.len() {
            10 => Self::parse_exact(&format!("{text}T00:00:00Z")),
            _ => Self::parse_exact(text).or_else(|| Self::parse_exact(&format!("{text}Z"))),
        }
    }
}

impl Timestamp {
    /// RFC 3339 text (any offset, any fraction), exact to the microsecond: sub-microsecond
    /// digits are cut, as the store keeps whole microseconds.
    /// Any year from 0000 on, also before 1970 (which [`Display`](std::fmt::Display) writes).
    pub fn parse_exact(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let num = |from: usize, to: usize| -> Option<i64> {
            let digits = b.get(from..to)?;
            digits
                .iter()
                .all(u8::is_ascii_digit)
                .then(|| digits.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
        };
        let sep = |at: usize, any: &[u8]| b.get(at).is_some_and(|c| any.contains(c));
        if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
            return None;
        }
        let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
        let (h, mi, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
        let days_in_month = match mo {
            2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            1..=12 => 31,
            _ => return None,
        };
        if !(1..=days_in_month).contains(&d) || h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        let mut at = 19;
        let mut micros = 0;
        if sep(at, b".") {
            let digits = b[at + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            let kept = digits.min(6);
            micros = num(at + 1, at + 1 + kept)? * 10i64.pow(6 - kept as u32);
            at += 1 + digits;
        }
        let offset_secs = match b.get(at..)? {
            b"Z" | b"z" => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let (oh, om) = (num(at + 1, at + 3)?, num(at + 4, at + 6)?);
                if oh > 23 || om > 59 {
                    return None;
                }
                (oh * 3600 + om * 60) * if *sign == b'-' { -1 } else { 1 }
            }
            _ => return None,
        };
        let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_secs;
        secs.checked_mul(1_000_000)?.checked_add(micros).map(Self)
    }
}

impl From<std::time::SystemTime> for Timestamp {
    fn from(t: std::time::SystemTime) -> Self {
        let micros = match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
        };
        Self(micros)
    }
}

/// RFC 3339 in UTC with microseconds, e.g. `2026-11-23T10:11:28.123456Z`.
impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000);
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days-from-civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_rfc3339_text_and_reads_back_exactly() {
        for micros in [0, 1, 999_999, 1_795_428_688_123_456, -1, -1_000_001] {
            let t = Timestamp::from_micros(micros);
            let json = serde_json::to_string(&t).unwrap();
            assert!(json.starts_with('"') && json.ends_with("Z\""), "{json}");
            assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t, "{json}");
        }
        assert_eq!(
            serde_json::from_str::<Timestamp>("1795428688123456").unwrap().micros(),
            1_795_428_688_123_456
        );
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
        let parse = |t: &str| Timestamp::parse_exact(t).map(|t| t.micros());
        assert_eq!(parse("2026-11-23T11:11:28.1234569+01:00"), Some(1_795_428_688_123_456));
        assert_eq!(parse("2026-11-23T10:11:28Z"), Some(1_795_428_688_000_000));
        assert!(parse("2024-02-29T00:00:00Z").is_some());
        for bad in [
            "2026-02-29T00:00:00Z",
            "2026-11-23T10:11:28",
            "2026-11-23T10:11:28.Z",
            "2026-13-01T00:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23T10:11:28+0100",
            "2026-11-23T10:11:28Z ",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(Timestamp::from_micros(0).to_string(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(Timestamp::from_micros(1_795_428_688_123_456).to_string(), "2026-11-23T10:11:28.123456Z");
        assert_eq!(Timestamp::from_micros(-1).to_string(), "1969-12-31T23:59:59.999999Z");
    }

    proptest::proptest! {
        /// Every instant from year 0 to 9999 reads back from its text exactly.
        #[test]
        fn text_round_trips(micros in -62_167_219_200_000_000i64..253_402_300_800_000_000) {
            let t = Timestamp::from_micros(micros);
            proptest::prop_assert_eq!(Timestamp::parse_exact(&t.to_string()), Some(t));
        }
    }
}
