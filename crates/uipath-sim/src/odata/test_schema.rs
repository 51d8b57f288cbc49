//! A small entity schema, shaped like Orchestrator's DTOs, shared by the odata tests: one
//! field of every type, an enum, and a nested object.

use std::borrow::Cow;

use uuid::Uuid;

use crate::data::entities::schema;
use crate::value::{Row, Schema, Val};

pub static INNER: Schema = schema!("InnerDto" { Reason: String, Code: Int32 });

pub static STATES: &[&str] = &["Pending", "Running", "Faulted", "Successful"];

pub static S: Schema = schema!("TestDto" {
    Id: Int64,
    Name: String,
    State: Enum(STATES),
    CreationTime: DateTime,
    Key: Guid,
    Inner: Object(&INNER),
    Score: Double,
    Flag: Bool,
    Count: Int32,
    Tags: Json,
});

/// 2024-01-01T00:00:00Z in Unix milliseconds.
pub const JAN_1_2024: i64 = 1_704_067_200_000;

/// The guid every sample row carries.
pub const KEY: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);

/// A row with every field set: `Id`, `Name` as given, `State` Faulted, created at
/// [`JAN_1_2024`], `Inner` `{Reason: "inner-reason", Code: 3}`, `Score` 1.5, `Flag` true,
/// `Count` 10.
pub fn row(id: i64, name: &str) -> Row {
    Row(vec![
        Val::Int(id),
        Val::string(name.to_owned()),
        Val::str("Faulted"),
        Val::DateTime(JAN_1_2024),
        Val::Guid(KEY),
        Val::Object(Box::new(Row(vec![Val::str("inner-reason"), Val::Int(3)]))),
        Val::Float(1.5),
        Val::Bool(true),
        Val::Int(10),
        Val::Raw(Cow::Borrowed("{}")),
    ])
}

/// A row whose every field is null.
pub fn null_row() -> Row {
    Row(vec![Val::Null; S.fields.len()])
}

/// The position of a top-level field of [`S`].
pub fn idx(name: &str) -> usize {
    S.index_of(name).expect("test field exists")
}
