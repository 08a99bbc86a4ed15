//! The OpenAPI schema of a text the domain parses: its pattern, lengths and an example,
//! stated by the type whose parser enforces them, so the document and the parser are read
//! side by side (each pattern has a property test that what matches it parses).

use std::ops::RangeInclusive;

use utoipa::openapi::ObjectBuilder;
use utoipa::openapi::schema::Type;

pub fn text(pattern: &str, lengths: RangeInclusive<usize>, example: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .min_length(Some(*lengths.start()))
        .max_length(Some(*lengths.end()))
        .examples([example])
}
