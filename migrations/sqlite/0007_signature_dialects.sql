-- How a webhook's deliveries are signed, as the JSON of its dialect's fields; NULL is the
-- default, Standard Webhooks, so the common case reads nothing more.
ALTER TABLE webhooks ADD COLUMN signature_dialect TEXT;
