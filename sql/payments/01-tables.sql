-- Payments tables. Every file in this folder is idempotent: each API instance
-- applies them at start-up and the PostgreSQL image runs them as init scripts.

-- What the processors accepted: the source of GET /payments-summary.
CREATE TABLE IF NOT EXISTS payments (
  correlation_id uuid PRIMARY KEY,
  processor      text NOT NULL CHECK (processor IN ('default', 'fallback')),
  -- Integer cents: sums stay exact to the cent.
  amount_cents   bigint NOT NULL CHECK (amount_cents > 0),
  -- Exactly the instant sent to the processor, which audits by it.
  requested_at   timestamptz NOT NULL
);

-- The summary filters by requestedAt; the other columns let it read the index only.
CREATE INDEX IF NOT EXISTS payments_by_requested_at ON payments (requested_at) INCLUDE (processor, amount_cents);

-- Accepted payments an instance stopped before dispatching, kept for its restart.
CREATE TABLE IF NOT EXISTS pending_payments (
  correlation_id uuid PRIMARY KEY,
  -- The instance that accepted it (INSTANCE_ID) and takes it back on start-up.
  owner          text NOT NULL,
  amount_cents   bigint NOT NULL CHECK (amount_cents > 0),
  -- Set when a request to this processor had no definite answer (a timeout,
  -- a shutdown): it may hold the payment, under exactly that requested_at.
  sent_to        text CHECK (sent_to IN ('default', 'fallback')),
  sent_at        timestamptz,
  CHECK ((sent_to IS NULL) = (sent_at IS NULL))
);

-- What the last call to each processor's rate-limited health endpoint said,
-- shared by every instance, and when an instance last took its turn to call.
CREATE TABLE IF NOT EXISTS processor_health (
  processor         text PRIMARY KEY CHECK (processor IN ('default', 'fallback')),
  failing           boolean NOT NULL DEFAULT false,
  min_response_time integer NOT NULL DEFAULT 0,
  checked_at        timestamptz NOT NULL DEFAULT '-infinity',
  claimed_at        timestamptz NOT NULL DEFAULT '-infinity'
);

INSERT INTO processor_health (processor) VALUES ('default'), ('fallback') ON CONFLICT DO NOTHING;
