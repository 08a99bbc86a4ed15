//! Positions in a log: `Seq`.

use serde::Serialize;

/// A per-identity sequence number. 0 means "before the first event", so `since=0` reads
/// from the start; real events start at 1.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema,
)]
#[serde(transparent)]
#[schema(example = 43)]
pub struct Seq(pub i64);

impl Seq {
    pub const ZERO: Seq = Seq(0);

    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}
