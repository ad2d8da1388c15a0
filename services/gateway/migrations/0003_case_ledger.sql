-- The case ledger: per court and case, the enforcement amount (执行标的额) every measure of the
-- case must state, and what the hub has announced of the case so far. What is frozen, pending and
-- deducted is computed from the case's measures under a lock on this row, in the transaction that
-- records a freeze or deduction, so concurrent orders cannot together exceed the amount.
CREATE TABLE cases (
    court_code             text NOT NULL,
    case_number            text NOT NULL,
    -- Set by the case's first measure; changed only by an amendment (recorded in case_events).
    enforcement_amount_fen bigint NOT NULL CHECK (enforcement_amount_fen > 0),
    state                  text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closing', 'closed')),
    -- Why the court closed the case.
    close_reason           text NOT NULL DEFAULT '',
    -- The ledger as last announced on the watch stream, so that each change is announced once.
    frozen_fen             bigint NOT NULL DEFAULT 0,
    pending_fen            bigint NOT NULL DEFAULT 0,
    deducted_fen           bigint NOT NULL DEFAULT 0,
    -- The last audit entry of the case's measures the case keeper has looked at: a case with a
    -- later one needs looking at again.
    checked_event          bigint NOT NULL DEFAULT 0,
    -- Increases with every change of this row.
    version                bigint NOT NULL DEFAULT 1,
    opened_at              timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    PRIMARY KEY (court_code, case_number)
);

CREATE INDEX cases_not_closed ON cases (court_code, case_number) WHERE state <> 'closed';
CREATE INDEX measure_events_by_case ON measure_events (court_code, case_number, id);

-- The case's own audit log, beside the measures' (measure_events): opened, amended, ledger
-- changes, excess released, order progress, closing, closed. Append-only; case watch streams are
-- fed from it. A court's case request (amendment, closing) is recorded here with its
-- idempotency key, so that a repeat finds it.
CREATE TABLE case_events (
    id              bigserial PRIMARY KEY,
    court_code      text NOT NULL,
    case_number     text NOT NULL,
    -- The case row's version after the change.
    version         bigint NOT NULL,
    -- The watch event kind (enforcement.v1.EventKind).
    kind            integer NOT NULL,
    message         text NOT NULL,
    -- The encoded Case (without measures and orders) after the change.
    snapshot        bytea NOT NULL,
    -- The encoded CaseOrder, for an order's progress.
    order_snapshot  bytea,
    -- The measure concerned (the release or reduction the hub ordered), if any.
    measure_id      uuid REFERENCES measures (id),
    idempotency_key text,
    -- The canonical encoded request, to tell a repeat from the reuse of a key.
    request         bytea,
    at              timestamptz NOT NULL,
    FOREIGN KEY (court_code, case_number) REFERENCES cases (court_code, case_number)
);

CREATE INDEX case_events_by_case ON case_events (court_code, case_number, id);
CREATE UNIQUE INDEX case_requests ON case_events (court_code, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TRIGGER case_events_append_only
    BEFORE UPDATE OR DELETE ON case_events
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_change();

-- Case-level orders: "freeze up to amount_fen of this debtor's deposits".
CREATE TABLE case_orders (
    id              uuid PRIMARY KEY,
    court_code      text NOT NULL,
    case_number     text NOT NULL,
    idempotency_key text NOT NULL,
    -- The canonical encoded FreezeDepositsRequest: the case, subject and period of every
    -- freeze the order places.
    request         bytea NOT NULL,
    amount_fen      bigint NOT NULL CHECK (amount_fen > 0),
    -- The inquiry whose answers the order allocates from.
    inquiry_id      uuid NOT NULL REFERENCES measures (id),
    state           text NOT NULL
        CHECK (state IN ('inquiring', 'placing', 'secured', 'exhausted', 'cancelled')),
    -- Where it stands, in words.
    message         text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (court_code, idempotency_key),
    FOREIGN KEY (court_code, case_number) REFERENCES cases (court_code, case_number)
);

CREATE INDEX case_orders_by_case ON case_orders (court_code, case_number, id);

-- The accounts an order may freeze, best first, from its inquiry's answers; `measure_id` is the
-- freeze asked of the account once it is asked.
CREATE TABLE case_order_accounts (
    order_id       uuid NOT NULL REFERENCES case_orders (id),
    rank           integer NOT NULL,
    agency_code    text NOT NULL,
    account_number text NOT NULL,
    -- Balance less frozen, as the inquiry answered.
    available_fen  bigint NOT NULL,
    -- Whether some court's freeze was already on the account (a new freeze would wait).
    frozen_before  boolean NOT NULL,
    measure_id     uuid REFERENCES measures (id),
    PRIMARY KEY (order_id, rank)
);

-- The freeze a deduction leaves for what it could not take (民诉解释 art. 484). Its id is minted
-- with the deduction and sent in its instruction; the measure is recorded when the bank first
-- reports it.
CREATE TABLE remainders (
    measure_id   uuid PRIMARY KEY,
    deduction_id uuid NOT NULL UNIQUE REFERENCES measures (id)
);

-- What a freeze is for now, as its bank reports it (ordered, less deductions and reductions);
-- NULL while nothing was reported: the amount ordered.
ALTER TABLE measures ADD COLUMN amount_fen bigint CHECK (amount_fen >= 0);
