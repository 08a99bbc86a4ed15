//! Cursor pagination shared by every list: `?limit=&after=` in, `{"data", "next"}` out.
//! The cursor is opaque to clients: base64 of the last item's sort key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1_000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u32>,
    /// The `next` cursor of the previous page.
    after: Option<String>,
}

impl ListQuery {
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit.unwrap_or(DEFAULT_LIMIT) {
            limit @ 1..=MAX_LIMIT => Ok(limit),
            _ => Err(ApiError::bad_request(
                "invalid_limit",
                format!("`limit` must be 1 to {MAX_LIMIT}"),
            )),
        }
    }

    /// The sort key the client's cursor stands for, parsed by `parse`.
    pub fn after<T>(&self, parse: impl FnOnce(&str) -> Option<T>) -> Result<Option<T>, ApiError> {
        let Some(cursor) = &self.after else {
            return Ok(None);
        };
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|key| parse(&key))
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_cursor",
                    "`after` is not a cursor this list gave out",
                )
            })
    }
}

/// A page of a list.
#[derive(Serialize, ToSchema)]
pub struct List<T> {
    pub data: Vec<T>,
    /// Pass as `after` for the next page; null on the last page.
    #[schema(required = true)]
    pub next: Option<String>,
}

impl<T> List<T> {
    /// A page fetched with `limit + 1` rows: the extra row only proves there is a next page.
    pub fn from_overfetch(mut items: Vec<T>, limit: u32, sort_key: impl Fn(&T) -> String) -> Self {
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next = more
            .then(|| {
                items
                    .last()
                    .map(|last| URL_SAFE_NO_PAD.encode(sort_key(last)))
            })
            .flatten();
        List { data: items, next }
    }
}
