"""Checks of our own for the OpenAPI-driven fuzz run (.ci/fuzz/run).

A schema-valid request must be accepted. Some refusals depend on the server's state, not
on the request's shape, as a 404 does: a `since` past the identity's head (400
`since_beyond_head`) and one below the first event the log still holds (410
`cursor_expired`, once the fuzzer has erased and re-created the identity) are let through
here. So are the refusals no schema of one field can state: a signature dialect whose
fields do not fit together (400 `dialect_conflict`: headers that collide or that the HTTP
client sets itself, a signed timestamp or id no header carries) and a SendGrid key of the
right shape whose point is not on the curve (400 `invalid_public_key`). Any other 4xx to a
schema-valid request fails the run.
"""

import schemathesis

# As the built-in check: a missing or foreign key, something that does not exist, a conflict
# with what is already there.
ACCEPTABLE = {401, 403, 404, 409}
STATE_DEPENDENT_CODES = {"since_beyond_head", "cursor_expired"}
BEYOND_THE_SCHEMA_CODES = {"dialect_conflict", "invalid_public_key"}


@schemathesis.check
def schema_valid_requests_are_accepted(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status < 400 or status >= 500 or status in ACCEPTABLE:
        return None
    try:
        code = response.json()["error"]["code"]
    except Exception:
        code = None
    if code in STATE_DEPENDENT_CODES or code in BEYOND_THE_SCHEMA_CODES:
        return None
    raise AssertionError(
        f"a schema-valid request was refused: {status} {code}\n{response.text[:500]}"
    )
