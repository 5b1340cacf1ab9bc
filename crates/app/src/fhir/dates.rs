//! FHIR dates and times, and the `date` search parameter's prefixes.

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime};

use crate::AppError;

fn day_start(d: Date) -> i64 {
    d.midnight().assume_utc().unix_timestamp()
}

/// A FHIR date or dateTime as the half-open range of seconds it covers: `2026` is the whole
/// year, `2026-11-24T10:00:00+01:00` one second. `None` when it is not well formed.
pub fn parse(s: &str) -> Option<(i64, i64)> {
    if s.contains('T') {
        let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
        let start = t.unix_timestamp();
        return Some((start, start + 1));
    }
    let parts: Vec<&str> = s.split('-').collect();
    let number = |p: &str, len: usize| -> Option<i32> {
        (p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
    };
    match parts.as_slice() {
        [y] => {
            let y = number(y, 4)?;
            let start = Date::from_calendar_date(y, Month::January, 1).ok()?;
            let end = Date::from_calendar_date(y + 1, Month::January, 1).ok()?;
            Some((day_start(start), day_start(end)))
        }
        [y, m] => {
            let (y, m) = (number(y, 4)?, number(m, 2)?);
            let month = Month::try_from(u8::try_from(m).ok()?).ok()?;
            let start = Date::from_calendar_date(y, month, 1).ok()?;
            let (ny, nm) = if month == Month::December {
                (y + 1, Month::January)
            } else {
                (y, month.next())
            };
            let end = Date::from_calendar_date(ny, nm, 1).ok()?;
            Some((day_start(start), day_start(end)))
        }
        [y, m, d] => {
            let (y, m, d) = (number(y, 4)?, number(m, 2)?, number(d, 2)?);
            let month = Month::try_from(u8::try_from(m).ok()?).ok()?;
            let date = Date::from_calendar_date(y, month, u8::try_from(d).ok()?).ok()?;
            let start = day_start(date);
            Some((start, start + 86_400))
        }
        _ => None,
    }
}

/// A `date` search value (`ge2026-01-01`, `2026-11`, …) narrowing `[from, until)`.
pub fn narrow(
    value: &str,
    from: &mut Option<i64>,
    until: &mut Option<i64>,
) -> Result<(), AppError> {
    let (prefix, rest) = match value.get(..2) {
        Some(p @ ("eq" | "ge" | "gt" | "le" | "lt")) => (p, &value[2..]),
        Some("ne" | "sa" | "eb" | "ap") => {
            return Err(AppError::InvalidResource {
                expression: "date".into(),
                message:
                    "the prefixes ne, sa, eb and ap are not supported; use eq, ge, gt, le or lt"
                        .into(),
            })
        }
        _ => ("eq", value),
    };
    let (lo, hi) = parse(rest).ok_or_else(|| AppError::InvalidResource {
        expression: "date".into(),
        message: format!("\"{rest}\" is not a FHIR date or dateTime"),
    })?;
    let (f, u) = match prefix {
        "eq" => (Some(lo), Some(hi)),
        "ge" => (Some(lo), None),
        "gt" => (Some(hi), None),
        "lt" => (None, Some(lo)),
        _ => (None, Some(hi)), // le
    };
    if let Some(f) = f {
        *from = Some(from.map_or(f, |x| x.max(f)));
    }
    if let Some(u) = u {
        *until = Some(until.map_or(u, |x| x.min(u)));
    }
    Ok(())
}

/// An instant as FHIR writes it, in UTC.
pub fn instant(seconds: i64) -> String {
    sealroom_domain::Timestamp(seconds).rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_sets_the_range() {
        assert_eq!(parse("2026"), Some((1_767_225_600, 1_798_761_600)));
        assert_eq!(parse("2026-02"), Some((1_769_904_000, 1_772_323_200)));
        assert_eq!(parse("2026-11-24"), Some((1_795_478_400, 1_795_564_800)));
        assert_eq!(
            parse("2026-11-24T10:00:00+01:00"),
            Some((1_795_510_800, 1_795_510_801))
        );
        for bad in [
            "26",
            "2026-13",
            "2026-02-30",
            "2026-11-24T10:00:00",
            "yesterday",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn prefixes_narrow_the_search() {
        let (mut f, mut u) = (None, None);
        narrow("ge2026-11-01", &mut f, &mut u).unwrap();
        narrow("lt2026-12", &mut f, &mut u).unwrap();
        assert_eq!((f, u), (Some(1_793_491_200), Some(1_796_083_200)));
        let (mut f, mut u) = (None, None);
        narrow("2026-11-24", &mut f, &mut u).unwrap();
        assert_eq!((f, u), (Some(1_795_478_400), Some(1_795_564_800)));
        assert!(narrow("ne2026", &mut f, &mut u).is_err());
        assert!(narrow("ge20261124", &mut f, &mut u).is_err());
    }
}
