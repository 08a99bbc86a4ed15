//! Keyset pagination shared by every list: `?limit=&after=` in, `{"data", "next"}` out.
//! `next` is the key of the page's last item (its id, or a handle), as Stripe's
//! `starting_after` is: any well-formed key is a position in the list, so the document can
//! say exactly what `after` accepts.

use std::marker::PhantomData;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::error::ApiError;

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1_000;

/// One page's query: `limit`, and `after`, the key (`K`) of the previous page's last item.
#[derive(Deserialize)]
pub struct Page<K> {
    limit: Option<u32>,
    after: Option<String>,
    #[serde(skip)]
    key: PhantomData<K>,
}

impl<K: FromStr> Page<K> {
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit.unwrap_or(DEFAULT_LIMIT) {
            limit @ 1..=MAX_LIMIT => Ok(limit),
            _ => Err(ApiError::bad_request(
                "invalid_limit",
                format!("`limit` must be 1 to {MAX_LIMIT}"),
            )),
        }
    }

    pub fn after(&self) -> Result<Option<K>, ApiError> {
        self.after
            .as_deref()
            .map(|key| {
                super::extract::unplussed(key).parse().map_err(|_| {
                    ApiError::bad_request(
                        "invalid_cursor",
                        "`after` is not the key of an item of this list: pass the previous page's `next`",
                    )
                })
            })
            .transpose()
    }

    /// Answers a list request: checks `limit` and `after`, has `fetch` read one item more
    /// than the page holds (the extra one only proves there is a next page), and names the
    /// next page by its last item's `key`.
    pub async fn respond<T, E>(
        &self,
        fetch: impl AsyncFnOnce(Option<K>, u32) -> Result<Vec<T>, E>,
        key: impl Fn(&T) -> String,
    ) -> Result<axum::Json<List<T>>, ApiError>
    where
        ApiError: From<E>,
    {
        let limit = self.limit()?;
        let items = fetch(self.after()?, limit + 1).await?;
        Ok(axum::Json(List::from_overfetch(items, limit, key)))
    }
}

// Written out because the key's schema is the type parameter's.
impl<K: PartialSchema> IntoParams for Page<K> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let _ = &PhantomData::<K>;
        vec![
            ParameterBuilder::new()
                .name("limit")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some("Items per page."))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1))
                        .maximum(Some(MAX_LIMIT))
                        .default(Some(DEFAULT_LIMIT.into())),
                ))
                .build(),
            ParameterBuilder::new()
                .name("after")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(
                    "The previous page's `next`: the key of its last item. The page starts after it.",
                ))
                .schema(Some(K::schema()))
                .build(),
        ]
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
    pub fn from_overfetch(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Self {
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next = more.then(|| items.last().map(&key)).flatten();
        List { data: items, next }
    }
}
