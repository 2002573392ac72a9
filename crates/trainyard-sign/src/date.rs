//! `X-Sdk-Date` values: `YYYYMMDDTHHMMSSZ` in UTC (auth.md "AK/SK signing", step 1).

use crate::SignError;

const MS_PER_DAY: i64 = 86_400_000;
/// 0000-01-01T00:00:00Z in epoch ms.
const MIN_MS: i64 = -62_167_219_200_000;
/// 9999-12-31T23:59:59.999Z in epoch ms.
const MAX_MS: i64 = 253_402_300_799_999;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Format epoch milliseconds as an `X-Sdk-Date` value, `YYYYMMDDTHHMMSSZ` in UTC
/// (auth.md "AK/SK signing", step 1); milliseconds are truncated towards the past.
///
/// `sdk_date(1_573_789_015_000)` → `"20191115T033655Z"`. Inputs outside years 0000–9999 are
/// clamped to that range, so the result is always 16 characters and [`parse_sdk_date`] accepts it.
pub fn sdk_date(epoch_ms: i64) -> String {
    let ms = epoch_ms.clamp(MIN_MS, MAX_MS);
    let days = ms.div_euclid(MS_PER_DAY);
    let secs = ms.rem_euclid(MS_PER_DAY) / 1000;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Parse an `X-Sdk-Date` value (`YYYYMMDDTHHMMSSZ`, UTC, exactly 16 ASCII characters, uppercase
/// `T` and `Z`, a real calendar date, hour 00–23, minute and second 00–59) into epoch
/// milliseconds (auth.md "AK/SK signing", step 1).
///
/// Errors: [`SignError::InvalidSdkDate`] for anything else (no surrounding spaces allowed; the
/// verifier trims the header value first).
pub fn parse_sdk_date(s: &str) -> Result<i64, SignError> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return Err(SignError::InvalidSdkDate);
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, SignError> {
        b[range].iter().try_fold(0i64, |acc, &c| {
            if c.is_ascii_digit() {
                Ok(acc * 10 + i64::from(c - b'0'))
            } else {
                Err(SignError::InvalidSdkDate)
            }
        })
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, sec) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59
    {
        return Err(SignError::InvalidSdkDate);
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec;
    Ok(secs * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(sdk_date(0), "19700101T000000Z");
        // 2019-11-15T03:36:55Z = 1573789015 s (date -u -d 2019-11-15T03:36:55Z +%s).
        assert_eq!(sdk_date(1_573_789_015_999), "20191115T033655Z");
        assert_eq!(parse_sdk_date("20191115T033655Z"), Ok(1_573_789_015_000));
        // 2024-02-29T23:59:59Z = 1709251199 s (leap day).
        assert_eq!(parse_sdk_date("20240229T235959Z"), Ok(1_709_251_199_000));
        assert_eq!(sdk_date(-1), "19691231T235959Z");
        assert_eq!(sdk_date(i64::MIN), "00000101T000000Z");
        assert_eq!(sdk_date(i64::MAX), "99991231T235959Z");
        assert_eq!(parse_sdk_date("00000101T000000Z"), Ok(MIN_MS));
        assert_eq!(parse_sdk_date("99991231T235959Z"), Ok(MAX_MS - 999));
    }

    #[test]
    fn bad_dates() {
        for s in [
            "",
            "20191115T033655",
            "20191115t033655Z",
            "20191115T033655z",
            "2019-11-15T03:36:55Z",
            "20191115T033655Z ",
            "20190229T000000Z",
            "21000229T000000Z",
            "20191301T000000Z",
            "20191100T000000Z",
            "20191131T000000Z",
            "20191115T243655Z",
            "20191115T036055Z",
            "20191115T033660Z",
            "20191１T033655Z",
            "训练训练训T",
            "+0191115T033655Z",
            "训练训练训练训Z",
        ] {
            assert_eq!(parse_sdk_date(s), Err(SignError::InvalidSdkDate), "{s:?}");
        }
        assert!(parse_sdk_date("20000229T000000Z").is_ok());
    }
}
