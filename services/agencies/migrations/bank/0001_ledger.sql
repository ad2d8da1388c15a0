-- The reference bank's ledger: accounts, the court freezes on them, and what each instruction
-- was answered (so a repeated instruction is answered the same, never executed twice).

CREATE TABLE accounts (
    account_number text PRIMARY KEY,
    holder_name    text NOT NULL,
    -- Resident identity number or unified social credit code.
    holder_id      text NOT NULL,
    balance_fen    bigint NOT NULL CHECK (balance_fen >= 0),
    closed         boolean NOT NULL DEFAULT false,
    opened_at      timestamptz NOT NULL
);

CREATE INDEX accounts_by_holder ON accounts (holder_id);

CREATE TABLE freezes (
    measure_id          uuid PRIMARY KEY,
    instruction_id      uuid NOT NULL UNIQUE,
    -- Order of receipt: waiting freezes rank by it (查扣冻规定 art. 26).
    seq                 bigint NOT NULL UNIQUE,
    account_number      text NOT NULL REFERENCES accounts (account_number),
    court_code          text NOT NULL,
    case_number         text NOT NULL,
    state               text NOT NULL
        CHECK (state IN ('effective', 'partial', 'waiting', 'released', 'lapsed', 'deducted')),
    amount_fen          bigint NOT NULL CHECK (amount_fen >= 0),
    frozen_fen          bigint NOT NULL DEFAULT 0 CHECK (frozen_fen >= 0 AND frozen_fen <= amount_fen),
    waiting_position    integer NOT NULL DEFAULT 0,
    period_months       integer NOT NULL,
    period_days         integer NOT NULL,
    registration_number text NOT NULL,
    -- Numbers every change reported to the hub.
    revision            bigint NOT NULL,
    received_at         timestamptz NOT NULL,
    effective_at        timestamptz,
    expires_at          timestamptz,
    ended_at            timestamptz
);

CREATE SEQUENCE freeze_seq;
CREATE INDEX freezes_by_account ON freezes (account_number, seq);
CREATE INDEX freezes_in_force_by_expiry ON freezes (expires_at) WHERE state IN ('effective', 'partial');

CREATE TABLE deductions (
    measure_id        uuid PRIMARY KEY,
    account_number    text NOT NULL REFERENCES accounts (account_number),
    court_code        text NOT NULL,
    amount_fen        bigint NOT NULL,
    deducted_fen      bigint NOT NULL,
    from_freeze       uuid REFERENCES freezes (measure_id),
    receiving_bank    text NOT NULL,
    receiving_account text NOT NULL,
    receiving_name    text NOT NULL,
    executed_at       timestamptz NOT NULL
);

CREATE TABLE executions (
    instruction_id uuid PRIMARY KEY,
    measure_id     uuid NOT NULL,
    action         text NOT NULL,
    -- The encoded ExecuteResponse, returned as is to a repeated instruction.
    response       bytea NOT NULL,
    executed_at    timestamptz NOT NULL
);

-- Notices for the hub, deleted once the adapter's inbox has taken them.
CREATE TABLE notices (
    id         uuid PRIMARY KEY,
    payload    bytea NOT NULL,
    created_at timestamptz NOT NULL
);
