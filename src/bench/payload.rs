//! The `email.sent` event the scenarios append, serialised once.
//!
//! The bench shares two cores with the server and PostgreSQL, so it must not spend them on
//! JSON: the event is rendered once, split around its `data.identity`, and a request body
//! for any handle and batch size is built by copying bytes. About the size of the raw
//! benchmark's `event.json` (~400 bytes of data), so both move the same payload.

use serde_json::json;

/// Stands where the handle goes; it cannot occur elsewhere in the template.
const HANDLE_MARK: &str = "__bench_handle__";

/// One event's JSON, cut where its `data.identity` goes.
pub struct EventBody {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl EventBody {
    pub fn new() -> Self {
        let event = json!({
            "type": "email.sent",
            "data": {
                "convId": "conv_dd6e7130674645d3",
                "identity": HANDLE_MARK,
                "message": {
                    "id": "<0102018f-provider-message-id@email.example.com>",
                    "messageIdHeader": "<c5b1e0d2-9a7e@tryacme.com>",
                    "from": "alice.chen@tryacme.com",
                    "to": "morgan@northwindrobotics.com",
                    "subject": "Quick intro — fleet rotation",
                    "snippet": "Hi Morgan, saw your post about fleet rotation and wanted to share how...",
                    "ts": 1_777_200_000_000_u64
                },
                "account": { "id": "acc_01HF6YJZ4N", "email": "alice.chen@tryacme.com" }
            }
        })
        .to_string();
        let (head, tail) = event
            .split_once(HANDLE_MARK)
            .expect("the template holds the mark");
        Self {
            head: head.as_bytes().to_vec(),
            tail: tail.as_bytes().to_vec(),
        }
    }

    /// `{"type","data"}` when `batch` is 1, else `{"events":[…]}` holding `batch` copies.
    pub fn body(&self, handle: &str, batch: usize) -> Vec<u8> {
        // Handles are `[A-Za-z0-9._+@-]` (spec §2): nothing in them needs JSON escaping.
        debug_assert!(!handle.contains(['"', '\\']));
        let one = self.head.len() + handle.len() + self.tail.len();
        let mut out = Vec::with_capacity((one + 1) * batch + 16);
        if batch <= 1 {
            self.push(&mut out, handle);
            return out;
        }
        out.extend_from_slice(b"{\"events\":[");
        for i in 0..batch {
            if i > 0 {
                out.push(b',');
            }
            self.push(&mut out, handle);
        }
        out.extend_from_slice(b"]}");
        out
    }

    /// One event `{"id","type","data"}` carrying the client's own id (`evt_` + ULID, spec §3),
    /// so a scenario knows the id before the append answers.
    pub fn with_id(&self, id: &str, handle: &str) -> Vec<u8> {
        // Ids are `evt_` + Crockford base32, handles `[A-Za-z0-9._+@-]`: nothing to escape.
        debug_assert!(!id.contains(['"', '\\']) && !handle.contains(['"', '\\']));
        let mut out =
            Vec::with_capacity(self.head.len() + handle.len() + self.tail.len() + id.len() + 8);
        out.extend_from_slice(b"{\"id\":\"");
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(b"\",");
        // The template is a non-empty object: its own `{` is replaced by the one above.
        out.extend_from_slice(&self.head[1..]);
        out.extend_from_slice(handle.as_bytes());
        out.extend_from_slice(&self.tail);
        out
    }

    fn push(&self, out: &mut Vec<u8>, handle: &str) {
        out.extend_from_slice(&self.head);
        out.extend_from_slice(handle.as_bytes());
        out.extend_from_slice(&self.tail);
    }
}

impl Default for EventBody {
    fn default() -> Self {
        Self::new()
    }
}
