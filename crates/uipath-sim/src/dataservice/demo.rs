//! The default entities: a small parent (`Customer`) and two children that reference it
//! (`Invoice`, `SupportTicket`), between them using every field kind — text from a pool
//! and unique text, numbers, decimals, booleans, date-times, choice sets, relationships,
//! required and optional fields with different null rates. Sizes (500 / 5,000 / 20,000)
//! make a full extraction take several pages without slowing tests down.

use super::config::{CustomField, EntityConfig, FieldKind};

fn field(name: &str, kind: FieldKind, required: bool, null_percent: u8) -> CustomField {
    CustomField {
        name: name.into(),
        kind,
        required,
        null_percent,
    }
}

fn choices(names: &[&str]) -> FieldKind {
    FieldKind::ChoiceSet {
        choices: names.iter().map(|s| s.to_string()).collect(),
    }
}

fn pool(values: &[&str]) -> FieldKind {
    FieldKind::Text {
        values: values.iter().map(|s| s.to_string()).collect(),
        prefix: String::new(),
    }
}

fn entity(name: &str, display_name: &str, records: u64, fields: Vec<CustomField>) -> EntityConfig {
    EntityConfig {
        name: name.into(),
        display_name: display_name.into(),
        records,
        fields,
        span_start: "2023-01-01T00:00:00Z".into(),
        span_end: "2025-01-01T00:00:00Z".into(),
    }
}

/// The demo entities, in the order `GET /api/Entity` lists them.
pub(crate) fn entities() -> Vec<EntityConfig> {
    let unique = |prefix: &str| FieldKind::Text {
        values: Vec::new(),
        prefix: prefix.into(),
    };
    let customer = entity(
        "Customer",
        "Customer",
        500,
        vec![
            field(
                "Name",
                pool(&[
                    "Acme Corp",
                    "Globex",
                    "Initech",
                    "Umbrella",
                    "Stark Industries",
                    "Wayne Enterprises",
                    "Hooli",
                    "Vandelay Industries",
                ]),
                true,
                0,
            ),
            field("Email", unique("customer"), false, 10),
            field(
                "Segment",
                choices(&["Enterprise", "MidMarket", "SmallBusiness"]),
                true,
                0,
            ),
            field(
                "CreditLimit",
                FieldKind::Decimal {
                    min: 1_000.0,
                    max: 250_000.0,
                },
                false,
                5,
            ),
            field(
                "EmployeeCount",
                FieldKind::Number {
                    min: 1,
                    max: 50_000,
                },
                false,
                15,
            ),
            field("IsActive", FieldKind::Boolean, true, 0),
            field("LastContactDate", FieldKind::DateTime, false, 20),
        ],
    );
    let invoice = entity(
        "Invoice",
        "Invoice",
        5_000,
        vec![
            field("InvoiceNumber", unique("INV-"), true, 0),
            field(
                "Amount",
                FieldKind::Decimal {
                    min: 10.0,
                    max: 50_000.0,
                },
                true,
                0,
            ),
            field("Currency", choices(&["USD", "EUR", "GBP", "JPY"]), true, 0),
            field("Paid", FieldKind::Boolean, false, 5),
            field("DueDate", FieldKind::DateTime, false, 10),
            field("LineCount", FieldKind::Number { min: 1, max: 40 }, false, 0),
            field(
                "Notes",
                pool(&[
                    "net 30",
                    "net 60",
                    "rush order",
                    "partial shipment",
                    "reissued",
                ]),
                false,
                40,
            ),
            field(
                "Customer",
                FieldKind::Relationship {
                    entity: "Customer".into(),
                },
                false,
                2,
            ),
        ],
    );
    let ticket = entity(
        "SupportTicket",
        "Support Ticket",
        20_000,
        vec![
            field(
                "Title",
                pool(&[
                    "Cannot log in",
                    "Invoice missing",
                    "Robot stuck",
                    "Slow dashboard",
                    "Password reset",
                    "Data export failed",
                ]),
                true,
                0,
            ),
            field(
                "Priority",
                choices(&["Low", "Medium", "High", "Critical"]),
                true,
                0,
            ),
            field(
                "Status",
                choices(&["Open", "InProgress", "Resolved", "Closed"]),
                true,
                0,
            ),
            field(
                "EscalationLevel",
                FieldKind::Number { min: 0, max: 3 },
                false,
                0,
            ),
            field(
                "SatisfactionScore",
                FieldKind::Decimal { min: 1.0, max: 5.0 },
                false,
                60,
            ),
            field("ResolvedAt", FieldKind::DateTime, false, 50),
            field(
                "Customer",
                FieldKind::Relationship {
                    entity: "Customer".into(),
                },
                true,
                0,
            ),
        ],
    );
    vec![customer, invoice, ticket]
}
