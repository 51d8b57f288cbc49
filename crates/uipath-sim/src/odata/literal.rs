//! OData literals and the types they take: typing a literal to the field it is compared
//! with, the Edm type names error messages use, and datetime parsing.
//!
//! OData literals are only loosely typed on their own (`'0'` may be a string or the first
//! member of an enum, `5` an Int32 or a Double), so a literal is kept raw until the parser
//! knows the field on the other side of the operator, then typed once here. Evaluation then
//! compares like with like.

use chrono::{NaiveDate, NaiveTime};
use uuid::Uuid;

use super::{dto_type_name, ODataError};
use crate::value::{FieldType, Val};

/// A literal as written, before it meets a field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Str(String),
    /// Raw number text, sign and suffix included.
    Number(String),
    DateTime(String),
    Date(String),
    Guid(String),
    /// `Type.Name'Value'`, e.g. a qualified enum constant.
    Typed(String, String),
}

/// The Edm type ODL infers for a number literal from its shape.
#[derive(Debug, Clone, Copy, PartialEq)]
enum NumKind {
    Int32,
    Int64,
    Double,
    Single,
    Decimal,
}

/// Splits a number into its digits and its kind. The lexer guarantees the shape: a letter
/// at the end can only be a type suffix (an exponent always ends in a digit).
fn number_kind(raw: &str) -> (&str, NumKind) {
    let (body, suffix) = match raw.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&raw[..i], Some(c)),
        _ => (raw, None),
    };
    let kind = match suffix.map(|c| c.to_ascii_lowercase()) {
        Some('d') => NumKind::Double,
        Some('f') => NumKind::Single,
        Some('m') => NumKind::Decimal,
        _ if body.contains(['.', 'e', 'E']) => NumKind::Double,
        // Integers too large for Int64 become decimals, as ODL's lexer makes them.
        _ => match body.parse::<i64>() {
            Err(_) => NumKind::Decimal,
            Ok(_) if suffix.is_some() => NumKind::Int64,
            Ok(n) if i32::try_from(n).is_ok() => NumKind::Int32,
            Ok(_) => NumKind::Int64,
        },
    };
    (body, kind)
}

/// The Edm type name of a literal, for error messages.
pub(crate) fn lit_type_name(lit: &Lit) -> String {
    match lit {
        Lit::Null => "null".to_owned(),
        Lit::Bool(_) => "Edm.Boolean".to_owned(),
        Lit::Str(_) => "Edm.String".to_owned(),
        Lit::Number(raw) => match number_kind(raw).1 {
            NumKind::Int32 => "Edm.Int32",
            NumKind::Int64 => "Edm.Int64",
            NumKind::Double => "Edm.Double",
            NumKind::Single => "Edm.Single",
            NumKind::Decimal => "Edm.Decimal",
        }
        .to_owned(),
        Lit::DateTime(_) => "Edm.DateTimeOffset".to_owned(),
        Lit::Date(_) => "Edm.Date".to_owned(),
        Lit::Guid(_) => "Edm.Guid".to_owned(),
        Lit::Typed(prefix, _) => prefix.clone(),
    }
}

/// The OData type name of a field, for error messages. Enums are named after their field
/// in UiPath's enum namespace (the simulator's schemas do not carry the enum type names).
pub(crate) fn field_type_name(ty: FieldType, field: &str) -> String {
    match ty {
        FieldType::Int64 => "Edm.Int64".to_owned(),
        FieldType::Int32 => "Edm.Int32".to_owned(),
        FieldType::Double => "Edm.Double".to_owned(),
        FieldType::Bool => "Edm.Boolean".to_owned(),
        FieldType::String => "Edm.String".to_owned(),
        FieldType::DateTime => "Edm.DateTimeOffset".to_owned(),
        FieldType::Guid => "Edm.Guid".to_owned(),
        FieldType::Enum(_) => format!("UiPath.Core.Enums.{field}"),
        FieldType::Object(schema) => dto_type_name(schema),
        FieldType::Json => "Edm.Untyped".to_owned(),
    }
}

/// Why a literal could not be typed to a field.
#[derive(Debug)]
pub(crate) enum LitError {
    /// The literal's type cannot meet the field's; the caller knows the operator and
    /// reports ODL's "incompatible types" message.
    Incompatible,
    /// A complete error (e.g. an unknown enum member).
    Invalid(ODataError),
}

/// Types `lit` to a field of type `ty`. `null` fits every type.
pub(crate) fn type_literal(lit: &Lit, ty: FieldType) -> Result<Val, LitError> {
    let val = match (ty, lit) {
        (_, Lit::Null) => Val::Null,
        (FieldType::Int64 | FieldType::Int32, Lit::Number(raw)) => match number_kind(raw) {
            (body, NumKind::Int32 | NumKind::Int64) => {
                Val::Int(body.parse().map_err(|_| LitError::Incompatible)?)
            }
            // ODL promotes the field to the literal's type; comparing Int with Float does
            // exactly that (see `Val::order`).
            (body, _) => Val::Float(body.parse().map_err(|_| LitError::Incompatible)?),
        },
        (FieldType::Double, Lit::Number(raw)) => Val::Float(
            number_kind(raw)
                .0
                .parse()
                .map_err(|_| LitError::Incompatible)?,
        ),
        (FieldType::Bool, Lit::Bool(b)) => Val::Bool(*b),
        (FieldType::String, Lit::Str(s)) => Val::string(s.clone()),
        (FieldType::DateTime, Lit::DateTime(raw) | Lit::Date(raw)) => {
            Val::DateTime(parse_datetime(raw).ok_or(LitError::Incompatible)?)
        }
        (FieldType::Guid, Lit::Guid(raw) | Lit::Str(raw)) => {
            Val::Guid(Uuid::parse_str(raw).map_err(|_| LitError::Incompatible)?)
        }
        (FieldType::Enum(members), Lit::Str(name)) => enum_member(members, name, name)?,
        (FieldType::Enum(members), Lit::Typed(prefix, name)) if prefix.contains('.') => {
            enum_member(members, name, &format!("{prefix}'{name}'"))?
        }
        (FieldType::Enum(members), Lit::Number(raw)) => match number_kind(raw).1 {
            NumKind::Int32 | NumKind::Int64 => enum_member(members, raw, raw)?,
            _ => return Err(LitError::Incompatible),
        },
        _ => return Err(LitError::Incompatible),
    };
    Ok(val)
}

/// The canonical name of the enum member `text` names, case-insensitively or by its
/// position in the declaration (`'0'` is the first member, as UiPath's docs filter).
fn enum_member(members: &'static [&'static str], text: &str, shown: &str) -> Result<Val, LitError> {
    let by_name = members.iter().find(|m| m.eq_ignore_ascii_case(text));
    let by_number = || {
        let all_digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        all_digits
            .then(|| text.parse::<usize>().ok())
            .flatten()
            .and_then(|n| members.get(n))
    };
    match by_name.or_else(by_number) {
        Some(member) => Ok(Val::str(member)),
        None => Err(LitError::Invalid(ODataError::new(format!(
            "The string '{shown}' is not a valid enumeration type constant."
        )))),
    }
}

/// Parses an OData datetime literal to Unix milliseconds, UTC.
///
/// Accepts `2024-04-04` (midnight UTC) and `2024-04-04T12:00[:47[.2640000]]` followed by
/// `Z` or an offset such as `+02:00`. Fractions keep up to 7 digits, as .NET's
/// `DateTimeOffset` does; digits below the millisecond are truncated. A datetime without a
/// zone is rejected: OData's `DateTimeOffset` requires one.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        if digits.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(digits).ok()?.parse().ok()
        } else {
            None
        }
    };
    let sep = |at: usize, want: u8| b.get(at) == Some(&want);
    if !(sep(4, b'-') && sep(7, b'-')) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    if b.len() == 10 {
        return Some(date.and_time(NaiveTime::MIN).and_utc().timestamp_millis());
    }
    if !matches!(b.get(10), Some(b'T' | b't')) || !sep(13, b':') {
        return None;
    }
    let (hour, minute) = (num(11..13)?, num(14..16)?);
    let mut at = 16;
    let mut second = 0;
    let mut milli = 0;
    if sep(at, b':') {
        second = num(at + 1..at + 3)?;
        at += 3;
        if sep(at, b'.') {
            let digits = b[at + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if !(1..=7).contains(&digits) {
                return None;
            }
            // Pad or cut the fraction to exactly three digits: milliseconds, truncated.
            let frac = &text[at + 1..at + 1 + digits.min(3)];
            milli = frac.parse::<u32>().ok()? * 10u32.pow(3 - frac.len() as u32);
            at += 1 + digits;
        }
    }
    let offset_minutes: i64 = match b.get(at) {
        Some(b'Z' | b'z') if b.len() == at + 1 => 0,
        Some(&sign @ (b'+' | b'-')) if b.len() == at + 6 && sep(at + 3, b':') => {
            let (oh, om) = (num(at + 1..at + 3)?, num(at + 4..at + 6)?);
            let minutes = i64::from(oh * 60 + om);
            // .NET limits offsets to ±14:00.
            if om > 59 || minutes > 14 * 60 {
                return None;
            }
            if sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let time = NaiveTime::from_hms_milli_opt(hour, minute, second, milli)?;
    Some(date.and_time(time).and_utc().timestamp_millis() - offset_minutes * 60_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::test_schema::{JAN_1_2024, STATES};

    const APR_4_12_00_47: i64 = 1_712_232_047_000;

    #[test]
    fn datetimes_parse_in_every_form_orchestrator_clients_send() {
        let cases = [
            ("2024-04-04T12:00:47.264Z", APR_4_12_00_47 + 264),
            ("2024-04-04T12:00:47Z", APR_4_12_00_47),
            ("2024-04-04T12:00:47.2640000Z", APR_4_12_00_47 + 264),
            ("2024-04-04T12:00:47.2649999Z", APR_4_12_00_47 + 264),
            ("2024-04-04T12:00:47.2Z", APR_4_12_00_47 + 200),
            ("2024-04-04T14:00:47+02:00", APR_4_12_00_47),
            ("2024-04-04T06:30:47.264-05:30", APR_4_12_00_47 + 264),
            ("2024-04-04T12:00Z", APR_4_12_00_47 - 47_000),
            ("2024-01-01", JAN_1_2024),
            ("2024-01-01T00:00:00z", JAN_1_2024),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_datetime(text), Some(ms), "{text}");
        }
    }

    #[test]
    fn malformed_datetimes_are_rejected() {
        for text in [
            "2024-04-04T12:00:47",
            "2024-04-04T12:00:47.12345678Z",
            "2024-04-04T12:00:47.Z",
            "2024-02-30T00:00:00Z",
            "2024-04-04T24:00:00Z",
            "2024-04-04T12:00:47+15:00",
            "2024-04-04T12:00:47+02:00x",
            "2024-4-04",
            "2024-04-04 12:00:47Z",
            "",
        ] {
            assert_eq!(parse_datetime(text), None, "{text}");
        }
    }

    #[test]
    fn numbers_take_the_type_of_the_field_they_meet() {
        let n = |s: &str| Lit::Number(s.to_owned());
        assert_eq!(
            type_literal(&n("123L"), FieldType::Int64).unwrap(),
            Val::Int(123)
        );
        assert_eq!(
            type_literal(&n("-5"), FieldType::Int32).unwrap(),
            Val::Int(-5)
        );
        assert_eq!(
            type_literal(&n("2"), FieldType::Double).unwrap(),
            Val::Float(2.0)
        );
        assert_eq!(
            type_literal(&n("1.5d"), FieldType::Double).unwrap(),
            Val::Float(1.5)
        );
        assert_eq!(
            type_literal(&n("2m"), FieldType::Double).unwrap(),
            Val::Float(2.0)
        );
        assert_eq!(
            type_literal(&n("1.5"), FieldType::Int64).unwrap(),
            Val::Float(1.5)
        );
        assert!(matches!(
            type_literal(&n("5"), FieldType::String),
            Err(LitError::Incompatible)
        ));
        assert_eq!(lit_type_name(&n("5")), "Edm.Int32");
        assert_eq!(lit_type_name(&n("5000000000")), "Edm.Int64");
        assert_eq!(lit_type_name(&n("5L")), "Edm.Int64");
        assert_eq!(lit_type_name(&n("1e3")), "Edm.Double");
        assert_eq!(lit_type_name(&n("99999999999999999999")), "Edm.Decimal");
    }

    #[test]
    fn enum_members_match_by_name_or_position() {
        let ty = FieldType::Enum(STATES);
        let s = |t: &str| Lit::Str(t.to_owned());
        assert_eq!(
            type_literal(&s("faulted"), ty).unwrap(),
            Val::str("Faulted")
        );
        assert_eq!(type_literal(&s("0"), ty).unwrap(), Val::str("Pending"));
        assert_eq!(
            type_literal(&Lit::Number("3".into()), ty).unwrap(),
            Val::str("Successful")
        );
        let typed = Lit::Typed("UiPath.Core.Enums.State".into(), "Running".into());
        assert_eq!(type_literal(&typed, ty).unwrap(), Val::str("Running"));
        for (lit, shown) in [
            (s("Foo"), "Foo"),
            (s("4"), "4"),
            (s("-1"), "-1"),
            (Lit::Number("10".into()), "10"),
            (
                Lit::Typed("NS.State".into(), "Nope".into()),
                "NS.State'Nope'",
            ),
        ] {
            match type_literal(&lit, ty) {
                Err(LitError::Invalid(e)) => assert_eq!(
                    e.message,
                    format!("The string '{shown}' is not a valid enumeration type constant.")
                ),
                other => panic!("{lit:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn guids_may_be_quoted_and_strings_do_not_become_datetimes() {
        let key = "01234567-89ab-cdef-0123-456789abcdef";
        let want = Val::Guid(Uuid::parse_str(key).unwrap());
        assert_eq!(
            type_literal(&Lit::Guid(key.into()), FieldType::Guid).unwrap(),
            want
        );
        assert_eq!(
            type_literal(&Lit::Str(key.into()), FieldType::Guid).unwrap(),
            want
        );
        let quoted_date = Lit::Str("2024-01-01T00:00:00Z".into());
        assert!(matches!(
            type_literal(&quoted_date, FieldType::DateTime),
            Err(LitError::Incompatible)
        ));
        assert_eq!(
            type_literal(&Lit::Null, FieldType::DateTime).unwrap(),
            Val::Null
        );
    }
}
