//! The error answers routes share, stated once for the API document: each type here is a
//! set of responses a route lists after its own, as in `responses((status = 200, …),
//! WebhooksKey, NoSuchWebhook)`. Every one carries an `ErrorBody`.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};

fn error(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident { $($status:literal => $description:literal),+ $(,)? })+) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    BTreeMap::from([$(($status.to_owned(), error($description))),+])
                }
            }
        )+
    };
}

error_responses! {
    /// A route that needs a key with `events:read`.
    ReaderKey {
        "401" => "Missing or invalid API key",
        "403" => "The key lacks `events:read`",
        "503" => "Database unavailable",
    }
    /// A route that needs a key with `events:write`.
    WriterKey {
        "401" => "Missing or invalid API key",
        "403" => "The key lacks `events:write`",
        "503" => "Database unavailable",
    }
    /// A route that needs a key with `webhooks`.
    WebhooksKey {
        "401" => "Missing or invalid API key",
        "403" => "The key lacks `webhooks`",
        "503" => "Database unavailable",
    }
    /// A route that needs a key with `admin`.
    AdminKey {
        "401" => "Missing or invalid API key",
        "403" => "The key lacks `admin`",
        "503" => "Database unavailable",
    }
    /// A route that takes a body.
    BodyLimit {
        "413" => "Body over the size limit",
    }
    /// A list's page query, on a list with no other query.
    ListQuery {
        "400" => "Invalid `limit` or `after`",
    }
    /// A read from a cursor: the log may no longer hold what follows it.
    ExpiredCursor {
        "410" => "`since` is below `earliestSeq - 1`: the events after it expired or were erased (`cursor_expired`, with `details.earliestSeq`)",
    }
    NoSuchSource {
        "404" => "No such source in this tenant",
    }
    NoSuchWebhook {
        "404" => "No such webhook in this tenant",
    }
    NoSuchDelivery {
        "404" => "No such delivery in this tenant",
    }
    NoSuchKey {
        "404" => "No such key in this tenant",
    }
    /// An identity's route: another identity's, for a key bound to one, is not there either.
    NoSuchIdentity {
        "404" => "No such identity (or not this key's)",
    }
}
